from registry.keys import load_all, load_or_create, rotate


def test_newest_key_is_the_one_created_last_whatever_the_clocks_say(tmp_path):
    first = load_or_create(tmp_path)
    assert load_or_create(tmp_path).kid == first.kid  # loaded, not created again
    # A rotation under an injected clock far in the past still becomes the current key.
    second = rotate(tmp_path)
    assert load_or_create(tmp_path).kid == second.kid != first.kid
    assert [k.kid for k in load_all(tmp_path)] == [first.kid, second.kid]
    assert all(oct(p.stat().st_mode)[-3:] == "600" for p in tmp_path.glob("*.pem"))
