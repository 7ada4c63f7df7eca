from conftest import World

def test_smoke(clients, world: World):
    c = clients["ed"]
    r = c.get("/items")
    assert r.status_code == 200, r.text
    assert "minsk.txt" in r.text
    r = c.get(f"/items/{world.minsk_item}")
    assert r.status_code == 200, r.text
    r = c.get("/incidents?q=елки")
    assert r.status_code == 200, r.text
    assert "Затрыманне" in r.text
