/* witnessbox public registry: filtering on region pages and search over search-index.js.
   Plain JavaScript, no library, no network request. Text is only ever inserted with
   textContent, never as HTML. */
(function () {
  "use strict";

  function fold(s) { return (s || "").normalize("NFC").toLocaleLowerCase(); }

  function fill(el, n) {
    if (el) { el.textContent = (el.getAttribute("data-template") || "{n}").replace("{n}", String(n)); }
  }

  function regionFilter() {
    var list = document.getElementById("incident-list");
    var text = document.getElementById("filter-text");
    var cat = document.getElementById("filter-category");
    var count = document.getElementById("filter-count");
    var form = document.getElementById("filter-form");
    if (!list || !text || !cat) { return; }
    var items = list.querySelectorAll("li.incident");
    function apply() {
      var q = fold(text.value).trim(), c = cat.value, shown = 0;
      for (var i = 0; i < items.length; i++) {
        var li = items[i];
        var ok = (!q || fold(li.getAttribute("data-text")).indexOf(q) !== -1) &&
                 (!c || (" " + li.getAttribute("data-cats") + " ").indexOf(" " + c + " ") !== -1);
        li.hidden = !ok;
        if (ok) { shown++; }
      }
      fill(count, shown);
    }
    text.addEventListener("input", apply);
    cat.addEventListener("change", apply);
    form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
    apply();
  }

  function search() {
    var form = document.getElementById("search-form");
    var index = window.WB_INDEX;
    if (!form || !index) { return; }
    var results = document.getElementById("results");
    var count = document.getElementById("result-count");
    var fields = ["q", "region", "category", "from", "to"];
    var params = new URLSearchParams(window.location.search);
    fields.forEach(function (f) {
      var el = document.getElementById(f);
      if (el && params.has(f)) { el.value = params.get(f); }
    });
    function val(id) { return document.getElementById(id).value; }
    function run() {
      var q = fold(val("q")).trim(), r = val("region"), c = val("category");
      var from = val("from"), to = val("to");
      var words = q ? q.split(/\s+/) : [];
      var found = index.items.filter(function (it) {
        if (r && it.r !== r) { return false; }
        if (c && it.c.indexOf(c) === -1) { return false; }
        if (from && it.e.slice(0, 10) < from) { return false; }
        if (to && it.k.slice(0, 10) > to) { return false; }
        for (var i = 0; i < words.length; i++) {
          if (it.s.indexOf(words[i]) === -1) { return false; }
        }
        return true;
      });
      while (results.firstChild) { results.removeChild(results.firstChild); }
      found.slice(0, 500).forEach(function (it) {
        var li = document.createElement("li");
        li.className = "incident";
        var when = document.createElement("span");
        when.className = "when";
        when.textContent = it.w;
        var a = document.createElement("a");
        a.className = "title";
        a.href = it.u;
        a.textContent = it.t;
        var place = document.createElement("span");
        place.className = "place";
        place.textContent = it.p + " · " + (index.regions[it.r] || "");
        var cats = document.createElement("span");
        cats.className = "cats";
        it.c.forEach(function (slug) {
          var s = document.createElement("span");
          s.className = "cat";
          s.textContent = index.categories[slug] || slug;
          cats.appendChild(s);
        });
        li.appendChild(when); li.appendChild(a); li.appendChild(place); li.appendChild(cats);
        results.appendChild(li);
      });
      fill(count, found.length);
    }
    form.addEventListener("submit", function (e) { e.preventDefault(); run(); });
    form.addEventListener("input", run);
    form.addEventListener("change", run);
    run();
  }

  function unitsFilter() {
    var table = document.getElementById("units-table");
    var text = document.getElementById("units-text");
    var kind = document.getElementById("units-kind");
    var region = document.getElementById("units-region");
    var count = document.getElementById("units-count");
    var form = document.getElementById("units-filter");
    if (!table || !text || !kind || !region) { return; }
    var rows = table.querySelectorAll("tr.unit-row");
    function apply() {
      var q = fold(text.value).trim(), k = kind.value, r = region.value, shown = 0;
      for (var i = 0; i < rows.length; i++) {
        var row = rows[i];
        var ok = (!q || fold(row.getAttribute("data-text")).indexOf(q) !== -1) &&
                 (!k || row.getAttribute("data-kind") === k) &&
                 (!r || (" " + row.getAttribute("data-regions") + " ").indexOf(" " + r + " ") !== -1);
        row.hidden = !ok;
        if (ok) { shown++; }
      }
      fill(count, shown);
    }
    text.addEventListener("input", apply);
    kind.addEventListener("change", apply);
    region.addEventListener("change", apply);
    form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
    apply();
  }

  regionFilter();
  unitsFilter();
  search();
}());
