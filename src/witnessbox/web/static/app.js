// Progressive enhancement only: every form works without JavaScript.
// Intake: one request per file, with a progress bar each (the page's form posts them all at once).
const form = document.getElementById("intake-form");
if (form) {
  form.addEventListener("submit", (event) => {
    const input = document.getElementById("intake-files");
    if (!input || !input.files || input.files.length === 0 || !window.XMLHttpRequest) return;
    event.preventDefault();
    const list = document.getElementById("progress");
    const rowTemplate = document.getElementById("progress-row");
    const token = form.dataset.csrf || "";
    const fields = new FormData(form);
    fields.delete("files");
    let queue = Promise.resolve();
    for (const file of Array.from(input.files)) {
      const row = rowTemplate.content.firstElementChild.cloneNode(true);
      row.querySelector(".name").textContent = file.name;
      list.appendChild(row);
      queue = queue.then(() => upload(file, fields, token, row));
    }
  });
}

function upload(file, fields, token, row) {
  return new Promise((resolve) => {
    const body = new FormData();
    for (const [k, v] of fields.entries()) body.append(k, v);
    body.append("files", file, file.name);
    const xhr = new XMLHttpRequest();
    const bar = row.querySelector("progress");
    const state = row.querySelector(".state");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    });
    xhr.addEventListener("load", () => {
      bar.value = 100;
      try {
        const r = JSON.parse(xhr.responseText).results[0];
        state.textContent = `${r.status} ${r.sha256 || ""} ${r.entry_seq ?? ""} ${r.message || ""}`;
        row.dataset.status = r.status;
      } catch (_e) {
        state.textContent = `HTTP ${xhr.status}`;
        row.dataset.status = "failed";
      }
      resolve();
    });
    xhr.addEventListener("error", () => { state.textContent = "network error"; row.dataset.status = "failed"; resolve(); });
    xhr.open("POST", "/intake");
    xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.send(body);
  });
}
