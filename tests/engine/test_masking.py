import random

from scaffold.engine.masking import MASK, Masker


def test_mask_plain_and_overlapping_secrets():
    m = Masker(["abc", "abcdef", ""])
    assert m.mask("x abcdef y abc z") == f"x {MASK} y {MASK} z"
    assert m.mask("nothing") == "nothing"
    assert not Masker([])


def test_stream_masks_secrets_split_anywhere():
    secret = "myCoolAdminPostgresPassword"
    text = f"Admin password: {secret}\nagain:{secret}{secret} and my end\n"
    expected = Masker([secret]).mask(text)
    rng = random.Random(7)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 12)))
        pieces = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        stream = Masker([secret, "other-secret"]).stream()
        out = "".join(stream.feed(p) for p in pieces) + stream.flush()
        assert out == expected
        assert secret not in out


def test_stream_releases_text_that_cannot_be_a_secret():
    stream = Masker(["password123"]).stream()
    assert stream.feed("hello pass") == "hello "
    assert stream.feed("port\n") == "passport\n"
    assert stream.flush() == ""


def test_mask_json_masks_nested_strings():
    m = Masker(["s3cr3t"])
    value = [{"kind": "table", "header": ["s3cr3t"], "data": [["x s3cr3t", 1]]}]
    assert m.mask_json(value) == [{"kind": "table", "header": [MASK], "data": [[f"x {MASK}", 1]]}]
