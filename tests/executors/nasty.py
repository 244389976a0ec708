"""Values that break naive shell quoting: every executor test round-trips them."""

NASTY: dict[str, bytes] = {
    "EMPTY": b"",
    "PLAIN": b"hello world",
    "NEWLINES": b"line 1\nline 2\n\n",
    "QUOTES": b'it\'s "quoted" `cmd` $(cmd) $HOME \\ \\n %s %%',
    "SEMI": b"a; b=c; rm -rf / ;",
    "EQUALS": b"==a=b==",
    "ONLY_NEWLINE": b"\n",
    "LATIN1": b"caf\xe9 \xff\xfe\x80 end\n",
    "UTF8": "héllo ✓ 日本".encode(),
    "CONTROL": bytes(range(1, 32)) + b"\x7f",
    "HIGH": bytes(range(128, 256)),
    "DASHES": b"-n -e --",
    "CR": b"a\r\nb\r",
    "BACKSLASH_END": b"tail\\",
    "SPACES": b"  lead and trail  ",
}
