#!/usr/bin/env python3
"""Writes the malformed-file corpus and MANIFEST.tsv (file, text its error must contain).

The encoder here is written from the GGUF and safetensors specifications, independently of the
C++ writer, so the corpus also checks that both sides agree on the layout. Run it from any
directory; it rewrites the files next to itself. Valid seeds for the fuzzers go to
tests/fuzz/seeds/.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "..", "..", "fuzz", "seeds")

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
T_F32, T_F16, T_Q4_0, T_Q8_0, T_I32 = 0, 1, 2, 8, 26


def gstr(s):
    b = s if isinstance(s, bytes) else s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return gstr(key) + struct.pack("<I", vtype) + payload


def kv_u32(key, v):
    return kv(key, U32, struct.pack("<I", v))


def kv_str(key, v):
    return kv(key, STRING, gstr(v))


def tensor_info(name, dims, ttype, offset):
    return gstr(name) + struct.pack("<I", len(dims)) + b"".join(
        struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ttype, offset)


def gguf(kvs, infos, data=b"", version=3, n_kv=None, n_tensors=None, align=32):
    head = b"GGUF" + struct.pack("<IQQ", version, len(infos) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(infos)
    body += b"\0" * ((-len(body)) % align)
    return body + data


def valid_gguf():
    kvs = [kv_str("general.architecture", "llama"), kv_u32("llama.block_count", 1),
           kv("general.tags", ARRAY, struct.pack("<IQ", STRING, 2) + gstr("a") + gstr("ü"))]
    infos = [tensor_info("a", [4], T_F32, 0), tensor_info("b", [32], T_Q8_0, 32)]
    data = struct.pack("<4f", 1, 2, 3, 4) + b"\0" * 16 + b"\x00\x3c" + bytes(range(32))
    return gguf(kvs, infos, data)


def safetensors(header, data=b"", raw=None):
    text = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def valid_safetensors():
    return safetensors({"__metadata__": {"format": "pt"}, "w": entry("F32", [2, 2], 0, 16),
                        "b": entry("BF16", [2], 16, 20)}, struct.pack("<4f", 1, 2, 3, 4) + b"\x80\x3f\x00\x40")


def corpus():
    ok = valid_gguf()
    a = kv_str("general.architecture", "llama")
    yield "gguf_empty.gguf", b"", "truncated"
    yield "gguf_truncated_header.gguf", ok[:10], "truncated"
    yield "gguf_truncated_in_metadata.gguf", ok[:40], "truncated"
    yield "gguf_truncated_tensor_data.gguf", ok[:-8], "runs past the end of the file"
    yield "gguf_bad_magic.gguf", b"GGML" + ok[4:], "bad magic"
    yield "gguf_version1.gguf", gguf([a], [], version=1), "unsupported GGUF version 1"
    yield "gguf_big_endian.gguf", b"GGUF" + struct.pack(">I", 3) + ok[8:], "big-endian"
    yield "gguf_huge_kv_count.gguf", gguf([a], [], n_kv=1 << 62), "metadata count"
    yield "gguf_huge_tensor_count.gguf", gguf([a], [], n_tensors=1 << 62), "tensor count"
    yield ("gguf_key_past_end.gguf", gguf([struct.pack("<Q", 1 << 40) + b"key"], []),
           "runs past the end")
    yield ("gguf_string_past_end.gguf",
           gguf([kv("k", STRING, struct.pack("<Q", 1000) + b"short")], []), "runs past the end")
    yield ("gguf_huge_array.gguf", gguf([kv("k", ARRAY, struct.pack("<IQ", U64, 1 << 60))], []),
           "cannot fit")
    yield ("gguf_huge_string_array.gguf",
           gguf([kv("k", ARRAY, struct.pack("<IQ", STRING, 1 << 61))], []), "cannot fit")
    yield "gguf_invalid_utf8_key.gguf", gguf([kv_str(b"bad\xff", "x")], []), "not valid UTF-8"
    yield "gguf_invalid_utf8_value.gguf", gguf([kv_str("k", b"\xc3\x28")], []), "not valid UTF-8"
    yield ("gguf_overlong_utf8.gguf", gguf([kv_str("k", b"\xc0\xaf")], []), "not valid UTF-8")
    yield ("gguf_invalid_utf8_tensor_name.gguf",
           gguf([a], [tensor_info(b"t\xed\xa0\x80", [1], T_F32, 0)], b"\0" * 32), "not valid UTF-8")
    yield "gguf_unknown_value_type.gguf", gguf([kv("k", 13, b"\0" * 8)], []), "unknown value type 13"
    yield ("gguf_unknown_array_type.gguf", gguf([kv("k", ARRAY, struct.pack("<IQ", 99, 1))], []),
           "unknown array element type 99")
    yield ("gguf_unknown_tensor_type.gguf", gguf([a], [tensor_info("t", [4], 99, 0)], b"\0" * 32),
           "unknown ggml type 99")
    yield ("gguf_offset_past_end.gguf", gguf([a], [tensor_info("t", [4], T_F32, 1 << 40)], b"\0" * 32),
           "runs past the end of the file")
    yield ("gguf_offset_wraps.gguf", gguf([a], [tensor_info("t", [4], T_F32, (1 << 64) - 32)], b"\0" * 32),
           "runs past the end of the file")
    yield ("gguf_misaligned_offset.gguf", gguf([a], [tensor_info("t", [4], T_F32, 4)], b"\0" * 32),
           "not a multiple of the alignment")
    yield ("gguf_overlapping_tensors.gguf",
           gguf([a], [tensor_info("t", [8], T_F32, 0), tensor_info("u", [8], T_F32, 0)], b"\0" * 64),
           "overlap")
    yield ("gguf_wrong_block_size.gguf", gguf([a], [tensor_info("q", [31], T_Q8_0, 0)], b"\0" * 64),
           "not a multiple of its block size 32")
    yield ("gguf_data_too_small_for_dtype.gguf",
           gguf([a], [tensor_info("q", [64], T_Q4_0, 0)], b"\0" * 32), "runs past the end")
    yield ("gguf_too_many_dims.gguf", gguf([a], [tensor_info("t", [1] * 5, T_F32, 0)], b"\0" * 32),
           "has 5 dimensions")
    yield ("gguf_zero_dims.gguf", gguf([a], [tensor_info("t", [], T_F32, 0)], b"\0" * 32),
           "has 0 dimensions")
    yield ("gguf_shape_overflow.gguf",
           gguf([a], [tensor_info("t", [1 << 32, 1 << 32, 16], T_F32, 0)], b"\0" * 32),
           "impossible shape")
    nested = struct.pack("<IQ", U8, 0)
    for _ in range(40):
        nested = struct.pack("<IQ", ARRAY, 1) + nested
    yield "gguf_deep_nesting.gguf", gguf([kv("k", ARRAY, nested)], []), "nested deeper"
    yield "gguf_bad_bool.gguf", gguf([kv("k", BOOL, b"\x02")], []), "bool value is 2"
    yield ("gguf_bad_alignment.gguf", gguf([kv_u32("general.alignment", 3)], []),
           "'general.alignment' is 3")
    yield ("gguf_alignment_wrong_type.gguf", gguf([kv_str("general.alignment", "32")], []),
           "'general.alignment' is a string")
    yield "gguf_duplicate_key.gguf", gguf([a, a], []), "duplicate key 'general.architecture'"
    yield ("gguf_duplicate_tensor.gguf",
           gguf([a], [tensor_info("t", [8], T_F32, 0), tensor_info("t", [8], T_F32, 32)], b"\0" * 64),
           "duplicate tensor 't'")
    # Files the GGUF reader accepts but the model description refuses.
    yield "model_no_architecture.gguf", gguf([kv_u32("llama.block_count", 1)], []), \
        "key 'general.architecture' is missing"
    yield "model_unknown_architecture.gguf", gguf([kv_str("general.architecture", "gptj")], []), \
        "unsupported architecture 'gptj'"
    hp = [a, kv_u32("llama.embedding_length", 64), kv_u32("llama.block_count", 1),
          kv_u32("llama.feed_forward_length", 64), kv_u32("llama.context_length", 64),
          kv("llama.attention.layer_norm_rms_epsilon", F32, struct.pack("<f", 1e-5)),
          kv_u32("llama.vocab_size", 8)]
    yield ("model_heads_not_multiple.gguf",
           gguf(hp + [kv_u32("llama.attention.head_count", 4), kv_u32("llama.attention.head_count_kv", 3)], []),
           "not a multiple of 3 key/value heads")
    yield ("model_zero_layers.gguf",
           gguf(hp[:2] + [kv_u32("llama.block_count", 0)] + hp[3:] + [kv_u32("llama.attention.head_count", 4)], []),
           "key 'llama.block_count' is 0")
    yield ("model_missing_tensors.gguf", gguf(hp + [kv_u32("llama.attention.head_count", 4)], []),
           "missing tensors: token_embd.weight")

    st = valid_safetensors()
    yield "st_empty.safetensors", b"", "truncated"
    yield "st_short.safetensors", b"\x10\0\0", "truncated"
    yield "st_header_past_end.safetensors", struct.pack("<Q", 1000) + b"{}", "runs past the end"
    yield "st_huge_header.safetensors", struct.pack("<Q", 1 << 62) + b"{}", "exceeds the"
    yield "st_bad_json.safetensors", safetensors(None, raw=b'{"a": [1, 2'), "not valid JSON"
    yield "st_not_object.safetensors", safetensors([1, 2]), "not a JSON object"
    yield "st_entry_not_object.safetensors", safetensors({"w": 3}), "entry is not an object"
    yield "st_unknown_dtype.safetensors", safetensors({"w": entry("F12", [1], 0, 4)}, b"\0" * 4), \
        "unknown dtype 'F12'"
    yield "st_missing_offsets.safetensors", safetensors({"w": {"dtype": "F32", "shape": [1]}}), \
        "'data_offsets' must be"
    yield "st_offsets_past_end.safetensors", safetensors({"w": entry("F32", [4], 0, 16)}, b"\0" * 8), \
        "runs past the end of the data section"
    yield "st_wrong_dtype_size.safetensors", safetensors({"w": entry("F32", [3], 0, 8)}, b"\0" * 8), \
        "needs 12 bytes but data_offsets give 8"
    yield "st_reversed_offsets.safetensors", safetensors({"w": entry("F32", [0], 8, 4)}, b"\0" * 8), \
        "reversed"
    yield "st_negative_shape.safetensors", safetensors({"w": entry("F32", [-1], 0, 4)}, b"\0" * 4), \
        "not a non-negative integer"
    yield "st_float_offset.safetensors", safetensors({"w": entry("F32", [1], 0, 4.5)}, b"\0" * 8), \
        "must be non-negative integers"
    yield ("st_shape_overflow.safetensors",
           safetensors({"w": entry("F32", [1 << 40, 1 << 40], 0, 4)}, b"\0" * 4), "overflows 64 bits")
    yield ("st_overlap.safetensors",
           safetensors({"w": entry("F32", [2], 0, 8), "v": entry("F32", [2], 4, 12)}, b"\0" * 12),
           "overlap")
    yield ("st_invalid_utf8_name.safetensors",
           safetensors(None, raw=b'{"w\xff": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
                       data=b"\0" * 4), "not valid JSON")
    yield "st_metadata_not_string.safetensors", safetensors({"__metadata__": {"k": 1}}), \
        "metadata key 'k' is not a string"
    yield "st_truncated_data.safetensors", st[:-3], "runs past the end of the data section"


def main():
    for name in os.listdir(HERE):
        if name.endswith((".gguf", ".safetensors")):
            os.remove(os.path.join(HERE, name))
    rows = []
    for name, data, expect in corpus():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        rows.append(f"{name}\t{expect}\n")
    with open(os.path.join(HERE, "MANIFEST.tsv"), "w") as f:
        f.write("# file\ttext the mq::Error message must contain (written by generate.py)\n")
        f.writelines(rows)
    for sub, name, data in (("gguf", "valid.gguf", valid_gguf()),
                            ("safetensors", "valid.safetensors", valid_safetensors())):
        os.makedirs(os.path.join(SEEDS, sub), exist_ok=True)
        with open(os.path.join(SEEDS, sub, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
