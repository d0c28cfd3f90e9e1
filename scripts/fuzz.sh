#!/usr/bin/env bash
# Builds the libFuzzer GGUF target with clang (ASan+UBSan, whole build instrumented) in its
# own build dir, seeds a corpus from small real GGUFs plus byte-built ones, and fuzzes for a
# bounded time. Exits non-zero if the fuzzer finds a crash, leak, timeout or huge allocation.
#
#   FUZZ_SECONDS=60 scripts/fuzz.sh        # defaults shown
#   FUZZ_BUILD_DIR=build-fuzz FUZZ_JOBS=2
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
shared="${TK_SHARED_DIR:-$root/../shared}"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-2}"

mkdir -p "$build"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTK_FUZZ=ON -DTK_BUILD_TESTS=OFF >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log"
    echo "fuzz.sh: cmake configure failed" >&2
    exit 2
}
cmake --build "$build" --target gguf_fuzz -j "$jobs"

corpus="$build/corpus"
seeds="$build/seeds"
artifacts="$build/artifacts"
mkdir -p "$corpus" "$seeds" "$artifacts"
rm -f "$artifacts"/*

# Small real files (the fuzzer truncates them to -max_len; their headers still parse far).
for f in "$shared/models/gguf/stories260K-Q4_0.gguf" \
         "$shared/reference/models/tiny-qwen2-Q4_0.gguf"; do
    if [[ -f "$f" ]]; then cp -f "$f" "$seeds/"; else echo "fuzz.sh: missing seed $f" >&2; fi
done

# Byte-built seeds small enough to parse completely: every metadata type, string arrays,
# v2, alignment 64 and 1, quantized and integer tensor types, 4-D and scalar tensors.
python3 - "$seeds" <<'EOF'
import struct, sys, os
out = sys.argv[1]
def s(x): x = x.encode() if isinstance(x, str) else x; return struct.pack('<Q', len(x)) + x
def kv(k, t, payload): return s(k) + struct.pack('<I', t) + payload
def arr(et, items): return struct.pack('<IQ', et, len(items)) + b''.join(items)
def tensor(name, ne, ty, off):
    return s(name) + struct.pack('<I', len(ne)) + b''.join(struct.pack('<q', d) for d in ne) \
        + struct.pack('<IQ', ty, off)
def pad(b, a): return b + b'\0' * ((-len(b)) % a)
def gguf(version, kvs, tensors, data, align=32):
    h = b'GGUF' + struct.pack('<IQQ', version, len(tensors), len(kvs)) + b''.join(kvs) \
        + b''.join(tensors)
    return pad(h, align) + data
meta = [
    kv('general.architecture', 8, s('llama')),
    kv('u8', 0, b'\x07'), kv('i8', 1, b'\xf9'), kv('u16', 2, struct.pack('<H', 9)),
    kv('i16', 3, struct.pack('<h', -9)), kv('u32', 4, struct.pack('<I', 9)),
    kv('i32', 5, struct.pack('<i', -9)), kv('f32', 6, struct.pack('<f', 1.5)),
    kv('bool', 7, b'\x01'), kv('u64', 10, struct.pack('<Q', 2**63)),
    kv('i64', 11, struct.pack('<q', -2)), kv('f64', 12, struct.pack('<d', 0.1)),
    kv('tokenizer.ggml.tokens', 9, arr(8, [s('<unk>'), s('<s>'), s('a')])),
    kv('tokenizer.ggml.scores', 9, arr(6, [struct.pack('<f', v) for v in (0, -1, -2)])),
    kv('tokenizer.ggml.token_type', 9, arr(5, [struct.pack('<i', v) for v in (2, 3, 1)])),
    kv('a_u64', 9, arr(10, [struct.pack('<Q', 5)])), kv('a_bool', 9, arr(7, [b'\x01'])),
]
f32 = struct.pack('<8f', *range(8))
seeds = {
    'meta_only.gguf': gguf(3, meta, [], b''),
    'f32_v3.gguf': gguf(3, meta[:1], [tensor('w', [4, 2], 0, 0)], f32),
    'f32_v2.gguf': gguf(2, meta[:1], [tensor('w', [4, 2], 0, 0)], f32),
    'align64.gguf': gguf(3, [kv('general.alignment', 4, struct.pack('<I', 64))],
                         [tensor('a', [3], 0, 0), tensor('b', [2], 0, 64)],
                         pad(struct.pack('<3f', 1, 2, 3), 64) + struct.pack('<2f', 4, 5), 64),
    'align1.gguf': gguf(3, [kv('general.alignment', 4, struct.pack('<I', 1))],
                        [tensor('a', [3], 0, 0), tensor('b', [2], 0, 12)],
                        struct.pack('<5f', 1, 2, 3, 4, 5), 1),
    'quant.gguf': gguf(3, meta[:3], [tensor('q4', [32, 2], 2, 0), tensor('q8', [32], 8, 64),
                                     tensor('k4', [256], 12, 128), tensor('i8', [4], 24, 288),
                                     tensor('x4', [1, 1, 1, 1], 0, 320), tensor('s', [], 0, 352)],
                       b'\0' * 356),
}
for name, b in seeds.items():
    with open(os.path.join(out, name), 'wb') as fh: fh.write(b)
EOF

dict="$build/gguf.dict"
cat >"$dict" <<'EOF'
"GGUF"
"general.alignment"
"general.architecture"
"tokenizer.ggml.tokens"
"\x03\x00\x00\x00"
"\x02\x00\x00\x00"
"\x09\x00\x00\x00"
"\x08\x00\x00\x00"
"\x20\x00\x00\x00\x00\x00\x00\x00"
"\xff\xff\xff\xff\xff\xff\xff\xff"
EOF

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
set +e
"$build/bin/gguf_fuzz" "$corpus" "$seeds" -dict="$dict" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=256 -max_len=65536 \
    -timeout=10 -artifact_prefix="$artifacts/" -print_final_stats=1
rc=$?
set -e

found=$(find "$artifacts" -type f | wc -l)
if [[ $rc -ne 0 || $found -ne 0 ]]; then
    echo "fuzz.sh: FAILED (exit $rc); reproducers:" >&2
    find "$artifacts" -type f >&2
    exit 1
fi
echo "fuzz.sh: no crashes in ${seconds}s; corpus: $(ls "$corpus" | wc -l) inputs in $corpus"
