#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (docs/robustness.md) into OUT_DIR/<target>/.

Binary seeds come from tests/vectors/vectors.json (the copy of ../shared/vectors/vectors.json
in this repository); the text seeds checked in under
fuzz/seeds/<target>/ are copied beside them. Seeds for fuzz_endpoint are operation scripts in
the format fuzz/fuzz_endpoint.cpp describes, and those for fuzz_routing in the format of
fuzz/fuzz_routing.cpp. Python standard library only.

usage: scripts/fuzz-seeds.py OUT_DIR
"""

import hashlib
import json
import pathlib
import shutil
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors" / "vectors.json"

# fuzz_endpoint operation kinds (fuzz/fuzz_endpoint.cpp); paths are bits 3-4, flag bit 5.
OP_DATAGRAM, OP_LAST, OP_CHANNEL, OP_MESSAGE, OP_ADVANCE, OP_COMMAND, OP_FORGET = range(7)
FLAG = 0x20


def lob(head: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">H", len(head)) + head + body


def lob_json(head: dict, body: bytes = b"") -> bytes:
    return lob(json.dumps(head, separators=(",", ":")).encode(), body)


def chunk(packet: bytes, size: int = 256) -> bytes:
    fragment = size - 1
    out = b"".join(
        bytes([len(packet[i:i + fragment])]) + packet[i:i + fragment]
        for i in range(0, len(packet), fragment))
    return out + b"\x00"


def datagram(packet: bytes, path: int = 0) -> bytes:
    return bytes([OP_DATAGRAM | path << 3]) + struct.pack(">H", len(packet)) + packet


def sealed_channel(inner: bytes, replay: bool = False) -> bytes:
    return bytes([OP_CHANNEL | (FLAG if replay else 0)]) + struct.pack(">H", len(inner)) + inner


def sealed_message(seq: int, inner: bytes) -> bytes:
    return bytes([OP_MESSAGE]) + struct.pack(">IH", seq, len(inner)) + inner


def advance(steps: int, in_seconds: bool = True) -> bytes:
    return bytes([OP_ADVANCE | (FLAG if in_seconds else 0), steps])


def command(which: int, args: bytes = b"") -> bytes:
    return bytes([OP_COMMAND, which]) + args


def check_fixed_keys(vectors: dict) -> None:
    """The C++ targets hard-code the vectors' secrets; the seeds only authenticate if they match."""
    support = (ROOT / "fuzz" / "fuzz_support.hpp").read_text()
    for name in ("A", "B", "A_ephemeral", "B_ephemeral"):
        secret = vectors["keys"][name]["secret"]
        if secret not in support:
            sys.exit(f"fuzz-seeds: the {name} secret in vectors.json is not the one in "
                     "fuzz/fuzz_support.hpp; update the fuzz keys")


def seeds(v: dict) -> dict:
    hx = bytes.fromhex
    hs = v["handshake"]
    a_hello = hx(hs["A_to_B"]["outer"])
    a_hello_compact = hx(hs["A_to_B_with_compact_1a"]["outer"])
    b_reply = hx(hs["B_reply_same_seq"]["outer"])
    rejects = [hx(r["outer"]) for r in hs["rejects"]]
    message = hx(v["message"]["outer"])
    message_inner = hx(v["message"]["inner"])
    channel = hx(v["channel"]["A_to_B_outer"])
    channel_inner = hx(v["channel"]["inner"])
    handshake_inner = hx(hs["A_to_B"]["inner"])
    lobs = [hx(x["packet"]) for x in v["lob"]]
    seq = hs["A_to_B"]["seq"]

    # Channel INNERs A may send once in sync (A is HIGH: its channel ids are odd).
    inners = [
        channel_inner,
        lob_json({"c": 1, "type": "chat", "seq": 0}, b"hi"),
        lob_json({"c": 3, "type": "stream"}, b"unreliable"),
        lob_json({"c": 1, "seq": 1, "ack": 0, "miss": [1, 2]}),
        lob_json({"c": 1, "seq": 2, "end": True}),
        lob_json({"c": 1, "err": "gone"}),
        lob_json({"c": 3, "end": True}),
    ]

    out = {
        "fuzz_lob": lobs + [a_hello, message, message_inner, channel, channel_inner] + inners,
        "fuzz_message_open": [a_hello, a_hello_compact, message, b_reply] + rejects,
        "fuzz_channel_open": [channel, channel[:2 + 56], message],
        "fuzz_cloak": [hx(v["cloak"][k]) for k in ("packet", "cloaked_once", "cloaked_twice")],
        "fuzz_chunking": [bytes([split]) + hx(v["chunking"]["stream"]) for split in (0, 7, 255)] +
        [bytes([3]) + chunk(a_hello, 64) + chunk(channel) + b"\x00" + chunk(message)],
    }

    hello = datagram(a_hello)
    endpoint = [
        bytes([OP_LAST]) + a_hello,
        bytes([OP_LAST]) + message,
        bytes([OP_LAST]) + channel,
        hello + datagram(channel),
        hello + datagram(channel) + datagram(channel),  # the replay is dropped
        hello + datagram(message),
        hello + datagram(a_hello_compact, path=1),  # same key, new path
        hello + datagram(b_reply),
        hello + command(0) + advance(31),  # connect, then the handshake times out
        hello + advance(26) + advance(40),  # keepalives, then silence
        hello + datagram(channel) + command(3, b"\x00\x00\x02ok") + command(4, b"\x00"),
        hello + command(2, b"\x04chat\x02hi") + command(5, b"\x00\x02yo"),
        hello + bytes([OP_FORGET]) + hello,
        sealed_message(seq, handshake_inner) + sealed_channel(channel_inner),
        sealed_message(seq, handshake_inner) + sealed_message(seq + 4, message_inner),
        sealed_message(seq, handshake_inner) + sealed_message(seq + 2, handshake_inner),
        hello + b"".join(sealed_channel(inner) for inner in inners) + sealed_channel(inners[-1],
                                                                                     True),
    ] + [hello + datagram(reject) for reject in rejects]
    out["fuzz_endpoint"] = endpoint
    out["fuzz_routing"] = routing_seeds(a_hello)
    return out


# fuzz_routing (fuzz/fuzz_routing.cpp): a config byte, then operations; kind in bits 0-3, host
# in bits 4-5 (H, A, B, C), flag bit 6, hold bit 7.
R_PEER, R_CONNECT, R_RAW, R_TOKEN, R_REPLAY, R_TIME, R_VIA, R_APP, R_HANDSHAKE, R_LINK, \
    R_RECONFIGURE, R_FORGET, R_LOSS = range(13)
R_H, R_A, R_B, R_C = range(4)
R_FLAG, R_HOLD = 0x40, 0x80
R_LINK_UP, R_ALLOW_C = 0x10, 0x20  # config byte


def r_op(kind: int, host: int = R_H, flag: bool = False, hold: bool = False) -> bytes:
    return bytes([kind | host << 4 | (R_FLAG if flag else 0) | (R_HOLD if hold else 0)])


def r_time(steps: int, unit: str = "s") -> bytes:
    return r_op(R_TIME, flag=unit != "10ms", hold=unit == "30s") + bytes([steps])


def r_extra(head: dict = None) -> bytes:
    text = json.dumps(head, separators=(",", ":")).encode() if head else b""
    return bytes([len(text)]) + text


def routing_seeds(a_hello: bytes) -> list:
    via = r_op(R_VIA, R_A) + b"\x00"  # A asks H to introduce it to B
    up = via + r_time(1)
    chat = r_op(R_APP, R_A) + b"\x01\x05hello"  # A opens "chat" to B
    last_handshake_of_a = b"\x03\x01"
    udp4 = {"type": "udp4", "ip": "10.0.0.5", "port": 5}
    return [
        b"\x00",
        b"\x00" + via + r_time(6) + chat + r_time(10, "10ms"),  # relayed, punching fails
        bytes([R_LINK_UP]) + via + r_time(5) + chat,  # punched
        b"\x01" + up + chat + r_time(10, "10ms") + r_op(R_TOKEN) + b"\x00\x05\x00\x00" +
        r_op(R_REPLAY) + b"\x05\x02\x00\x00",
        b"\x00" + r_op(R_PEER, R_A) + b"\x02" + last_handshake_of_a + r_extra(),
        b"\x00" + r_op(R_PEER, R_A) + b"\x02\x01\x08" + b"\x11" * 8 + r_extra({"x": 1}),
        b"\x00" + r_op(R_PEER, R_C) + b"\x01\x03\x03" + r_extra(),  # H does not route for C
        bytes([R_ALLOW_C]) + r_op(R_PEER, R_C) + b"\x02\x03\x03" + r_extra(),
        b"\x00" + r_op(R_CONNECT, R_H) + b"\x01\x02\x03\x01\x0a\x18\x01\x00" +
        r_extra({"paths": [udp4]}) + r_time(4),
        b"\x00" + r_op(R_CONNECT, R_H) + b"\x01\x02\x00\x02\x00" + r_extra(),
        b"\x00" + r_op(R_CONNECT, R_A) + b"\x00\x02\x01\x00" + last_handshake_of_a + r_extra(),
        b"\x00" + up + r_op(R_RECONFIGURE) + b"\x17" + chat + r_op(R_RECONFIGURE) + b"\x00" + chat,
        b"\x00" + up + r_op(R_FORGET, R_A) + b"\x02" + via + r_time(1),
        b"\x00" + up + r_time(5, "30s") + chat + r_time(5, "30s"),  # keepalives, route expiry
        b"\x00" + r_op(R_VIA, R_A, hold=True) + b"\x00" + r_op(R_LOSS) + b"\x01" + r_time(10),
        b"\x00" + up + r_op(R_LINK, R_A) + b"\x00" + r_time(40),  # A loses H
        b"\x00" + up + r_op(R_HANDSHAKE, R_A) + b"\x01\x03" + r_time(3),  # A tries B directly
        b"\x00" + r_op(R_RAW, R_H) + b"\x04" + struct.pack(">H", len(a_hello)) + a_hello,
    ]


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = pathlib.Path(sys.argv[1])
    vectors = json.loads(VECTORS.read_text())
    check_fixed_keys(vectors)

    for target, corpus in seeds(vectors).items():
        directory = out_dir / target
        directory.mkdir(parents=True, exist_ok=True)
        for data in corpus:
            # Named by content, as libFuzzer names corpus files, so reruns add no duplicates.
            (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)

    for source in sorted((ROOT / "fuzz" / "seeds").glob("*/*")):
        directory = out_dir / source.parent.name
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, directory / source.name)

    counts = {d.name: len(list(d.iterdir())) for d in sorted(out_dir.iterdir()) if d.is_dir()}
    print("fuzz-seeds: " + ", ".join(f"{name} {n}" for name, n in counts.items()))


if __name__ == "__main__":
    main()
