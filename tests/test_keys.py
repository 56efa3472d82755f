from registry.keys import load_all, load_or_create, rotate


def test_newest_key_is_the_one_created_last_whatever_the_clocks_say(tmp_path):
    first = load_or_create(tmp_path)
    assert load_or_create(tmp_path).kid == first.kid  # loaded, not created again
    # A rotation under an injected clock far in the past still becomes the current key.
    second = rotate(tmp_path)
    assert load_or_create(tmp_path).kid == second.kid != first.kid
    assert [k.kid for k in load_all(tmp_path)] == [first.kid, second.kid]
    assert all(oct(p.stat().st_mode)[-3:] == "600" for p in tmp_path.glob("*.pem"))


def _start_worker(directory: str, barrier, out) -> None:  # noqa: ANN001
    from pathlib import Path

    from registry.keys import load_or_create

    barrier.wait()
    try:
        out.put(load_or_create(Path(directory)).kid)
    except Exception as exc:  # noqa: BLE001 - the parent asserts on it
        out.put(f"error: {exc!r}")


def test_workers_starting_together_on_a_fresh_directory_share_one_key(tmp_path):
    """Found by the HTTP benchmark: two gunicorn workers both found no key, both wrote
    ed25519-000001.pem, and the loser's first decision was a 500 (FileExistsError). Now the first
    to place the file wins and the others load its key; none ever reads a half-written file."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    for attempt in range(8):
        directory = tmp_path / f"keys-{attempt}"
        barrier, out = ctx.Barrier(4), ctx.Queue()
        workers = [ctx.Process(target=_start_worker, args=(str(directory), barrier, out)) for _ in range(4)]
        for w in workers:
            w.start()
        kids = [out.get(timeout=60) for _ in workers]
        for w in workers:
            w.join(timeout=60)
        assert not [k for k in kids if k.startswith("error")], kids
        assert len(set(kids)) == 1, kids
        assert [p.name for p in directory.iterdir()] == ["ed25519-000001.pem"]


def test_a_worker_that_found_no_key_loads_the_first_key_another_placed_meanwhile(tmp_path, monkeypatch):
    """The interleaving CI once hit: worker B finds the directory empty, worker A then places
    key 1, and B -- about to create its own -- must load A's key instead of adding key 2."""
    import registry.keys as keys

    real_write = keys._write_new
    placed = {}

    def another_worker_first(directory, number):  # noqa: ANN001, ANN202
        if not placed:
            placed["kid"] = keys._kid_for(real_write(directory, number=1)[0])
        return real_write(directory, number)

    monkeypatch.setattr(keys, "_write_new", another_worker_first)
    assert load_or_create(tmp_path).kid == placed["kid"]
    assert [p.name for p in tmp_path.iterdir()] == ["ed25519-000001.pem"]
