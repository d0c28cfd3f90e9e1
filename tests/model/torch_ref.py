#!/usr/bin/python3
"""Independent PyTorch forward pass for tokamak's architecture tests.

Reads a GGUF file itself (F32/F16 tensors and the metadata needed), rebuilds each architecture
the way Hugging Face transformers computes it (LlamaForCausalLM with un-permuted q/k and
rotate_half RoPE, Qwen2, Phi3 with fused qkv_proj / gate_up_proj and LongRoPE, Gemma with
(1 + w) RMSNorm and sqrt(hidden) embedding scale, StarCoder2 with nn.LayerNorm and biases,
Mixtral-style routing), runs it in float64 over the given tokens and writes all logits as
float32 [n_tokens, n_vocab] little-endian.

Usage: torch_ref.py MODEL.gguf OUT.bin --tokens 1,2,3 [--n-ctx N]
       torch_ref.py MODEL.gguf --write-hf DIR [--shards N]   (the same model as an HF folder)
--n-ctx picks Phi-3's LongRoPE long factors when N exceeds the original context (as
llama.cpp fixes the choice per context); transformers decides the same way from the sequence
length, which in these tests is always the shorter one.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

if __name__ == "__main__" and "--write-hf" in sys.argv[1:]:
    torch = F = DT = None  # writing a folder needs numpy only; torch takes seconds to import
else:
    import torch
    import torch.nn.functional as F

    DT = torch.float64

# GGUF metadata value types.
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_SCALARS = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
            BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}


class Gguf:
    """Minimal GGUF v2/v3 reader: metadata and F32/F16 tensors (outermost dimension first)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        if self.buf[:4] != b"GGUF":
            raise ValueError(path + ": not a GGUF file")
        self.pos = 4
        version = self._u("<I")
        if version not in (2, 3):
            raise ValueError("unsupported GGUF version %d" % version)
        n_tensors = self._u("<Q")
        n_kv = self._u("<Q")
        self.meta = {}
        for _ in range(n_kv):
            key = self._str()
            self.meta[key] = self._value(self._u("<I"))
        infos = []
        for _ in range(n_tensors):
            name = self._str()
            n_dims = self._u("<I")
            ne = [self._u("<Q") for _ in range(n_dims)]
            ggml_type = self._u("<I")
            offset = self._u("<Q")
            infos.append((name, ne, ggml_type, offset))
        align = self.meta.get("general.alignment", 32)
        data_start = (self.pos + align - 1) // align * align
        self.tensors = {}
        for name, ne, ggml_type, offset in infos:
            count = int(np.prod(ne)) if ne else 1
            start = data_start + offset
            if ggml_type == 0:
                arr = np.frombuffer(self.buf, dtype="<f4", count=count, offset=start)
            elif ggml_type == 1:
                arr = np.frombuffer(self.buf, dtype="<f2", count=count, offset=start)
            else:
                arr = None  # quantized: not needed by these tests
            if arr is not None:
                arr = arr.reshape(list(reversed(ne)))
            self.tensors[name] = arr

    def _u(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def _str(self):
        n = self._u("<Q")
        s = self.buf[self.pos:self.pos + n].decode("utf-8", errors="replace")
        self.pos += n
        return s

    def _value(self, t):
        if t in _SCALARS:
            return self._u(_SCALARS[t])
        if t == STR:
            return self._str()
        if t == ARR:
            at = self._u("<I")
            n = self._u("<Q")
            return [self._value(at) for _ in range(n)]
        raise ValueError("unknown GGUF value type %d" % t)

    def has(self, name):
        return name in self.tensors

    def t(self, name):
        arr = self.tensors.get(name)
        if arr is None:
            raise KeyError("tensor %s missing or not F32/F16" % name)
        return torch.from_numpy(np.array(arr, dtype=np.float64)).to(DT)


def rms_norm(x, w, eps):
    # LlamaRMSNorm / Qwen2RMSNorm / Phi3RMSNorm
    var = x.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(var + eps) * w


def gemma_rms_norm(x, w, eps):
    # GemmaRMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + weight); GGUF stores weight + 1.
    weight = w - 1.0
    var = x.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(var + eps) * (1.0 + weight)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_cos_sin(positions, rot_dim, base, ext_factors=None, attention_scaling=1.0):
    # LlamaRotaryEmbedding (and Phi3's LongRoPE: inv_freq divided by the extension factors,
    # cos/sin multiplied by the attention factor).
    inv_freq = 1.0 / (base ** (torch.arange(0, rot_dim, 2, dtype=torch.int64).to(DT) / rot_dim))
    if ext_factors is not None:
        inv_freq = inv_freq / ext_factors
    freqs = positions.to(DT)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos() * attention_scaling, emb.sin() * attention_scaling


def apply_rope(x, cos, sin, rot_dim):
    # x: [heads, T, D]; rotates the first rot_dim dims (partial rotary as Phi3/NeoX).
    xr, xp = x[..., :rot_dim], x[..., rot_dim:]
    xr = xr * cos[None] + rotate_half(xr) * sin[None]
    return torch.cat((xr, xp), dim=-1)


def unpermute(w, n_head):
    # convert_hf_to_gguf permutes llama q/k rows so that GGUF uses adjacent-pair RoPE; undo it
    # to get Hugging Face's layout, where rotate_half applies.
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def linear(x, w, b=None):
    y = x @ w.T
    return y + b if b is not None else y


def split_heads(x, n):
    # [T, n*D] -> [n, T, D]
    return x.view(x.shape[0], n, -1).transpose(0, 1)


def sdpa(q, k, v, n_head, n_kv, scaling):
    # eager_attention_forward: repeat_kv, scaled scores, causal mask, softmax, weighted sum.
    T = q.shape[1]
    rep = n_head // n_kv
    k = k.repeat_interleave(rep, dim=0)
    v = v.repeat_interleave(rep, dim=0)
    scores = (q @ k.transpose(1, 2)) * scaling
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(mask[None], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    out = probs @ v  # [H, T, D]
    return out.transpose(0, 1).reshape(T, -1)


def forward(g, tokens, n_ctx):
    m = g.meta
    arch = m["general.architecture"]
    a = arch + "."
    E = m[a + "embedding_length"]
    n_layer = m[a + "block_count"]
    n_head = m[a + "attention.head_count"]
    n_kv = m.get(a + "attention.head_count_kv", n_head)
    D = m.get(a + "attention.key_length", E // n_head)
    rot = m.get(a + "rope.dimension_count", D)
    base = m.get(a + "rope.freq_base", 1e6 if arch == "qwen2" else 1e4)
    n_expert = m.get(a + "expert_count", 0)
    n_used = m.get(a + "expert_used_count", 0)
    if arch == "starcoder2":
        eps = m.get(a + "attention.layer_norm_epsilon", 1e-5)
    else:
        eps = m.get(a + "attention.layer_norm_rms_epsilon", 1e-5)

    tok = torch.tensor(tokens, dtype=torch.int64)
    T = len(tokens)
    pos = torch.arange(T)
    emb_w = g.t("token_embd.weight")
    x = emb_w[tok]
    if arch == "gemma":
        x = x * torch.tensor(E ** 0.5, dtype=DT)

    ext, attn_scaling = None, 1.0
    if arch == "phi3" and g.has("rope_factors_short.weight"):
        n_ctx_train = m[a + "context_length"]
        orig = m.get(a + "rope.scaling.original_context_length", n_ctx_train)
        ctx = n_ctx if n_ctx > 0 else n_ctx_train
        ext = g.t("rope_factors_long.weight" if ctx > orig else "rope_factors_short.weight")
        attn_scaling = m.get(a + "rope.scaling.attn_factor", 1.0)
    cos, sin = rope_cos_sin(pos, rot, base, ext, attn_scaling)

    def norm(h, name):
        w = g.t(name + ".weight")
        if arch == "starcoder2":
            return F.layer_norm(h, (E,), w, g.t(name + ".bias"), eps)
        if arch == "gemma":
            return gemma_rms_norm(h, w, eps)
        return rms_norm(h, w, eps)

    def opt(name):
        return g.t(name) if g.has(name) else None

    act_tanh = lambda u: F.gelu(u, approximate="tanh")  # gelu_pytorch_tanh

    for il in range(n_layer):
        p = "blk.%d." % il
        h = norm(x, p + "attn_norm")
        if g.has(p + "attn_qkv.weight"):  # Phi3 qkv_proj: rows q, k, v
            qkv = linear(h, g.t(p + "attn_qkv.weight"))
            Q, KV = n_head * D, n_kv * D
            q, k, v = qkv[:, :Q], qkv[:, Q:Q + KV], qkv[:, Q + KV:]
        else:
            wq, wk = g.t(p + "attn_q.weight"), g.t(p + "attn_k.weight")
            if arch in ("llama", "mistral"):
                wq, wk = unpermute(wq, n_head), unpermute(wk, n_kv)
            q = linear(h, wq, opt(p + "attn_q.bias"))
            k = linear(h, wk, opt(p + "attn_k.bias"))
            v = linear(h, g.t(p + "attn_v.weight"), opt(p + "attn_v.bias"))
        q, k, v = split_heads(q, n_head), split_heads(k, n_kv), split_heads(v, n_kv)
        q, k = apply_rope(q, cos, sin, rot), apply_rope(k, cos, sin, rot)
        o = sdpa(q, k, v, n_head, n_kv, D ** -0.5)
        x = x + linear(o, g.t(p + "attn_output.weight"), opt(p + "attn_output.bias"))

        h = norm(x, p + "ffn_norm")
        if arch == "starcoder2":  # Starcoder2MLP: c_proj(act(c_fc(x)))
            y = act_tanh(linear(h, g.t(p + "ffn_up.weight"), g.t(p + "ffn_up.bias")))
            y = linear(y, g.t(p + "ffn_down.weight"), g.t(p + "ffn_down.bias"))
        elif arch == "phi3":  # Phi3MLP: gate, up = gate_up_proj(x).chunk(2); down(up * silu(gate))
            gate, up = linear(h, g.t(p + "ffn_up.weight")).chunk(2, dim=-1)
            y = linear(up * F.silu(gate), g.t(p + "ffn_down.weight"))
        elif arch == "gemma":  # GemmaMLP: down(gelu_tanh(gate(x)) * up(x))
            gate = linear(h, g.t(p + "ffn_gate.weight"))
            up = linear(h, g.t(p + "ffn_up.weight"))
            y = linear(act_tanh(gate) * up, g.t(p + "ffn_down.weight"))
        elif n_expert > 0:  # MixtralSparseMoeBlock
            logits = linear(h, g.t(p + "ffn_gate_inp.weight"))
            weights = torch.softmax(logits, dim=-1)
            top_w, top_i = torch.topk(weights, n_used, dim=-1)
            top_w = top_w / top_w.sum(dim=-1, keepdim=True)
            gate_e, up_e = g.t(p + "ffn_gate_exps.weight"), g.t(p + "ffn_up_exps.weight")
            down_e = g.t(p + "ffn_down_exps.weight")
            y = torch.zeros_like(h)
            for t in range(T):
                for j in range(n_used):
                    e = int(top_i[t, j])
                    z = F.silu(gate_e[e] @ h[t]) * (up_e[e] @ h[t])
                    y[t] += top_w[t, j] * (down_e[e] @ z)
        else:  # LlamaMLP / Qwen2MLP
            gate = linear(h, g.t(p + "ffn_gate.weight"))
            up = linear(h, g.t(p + "ffn_up.weight"))
            y = linear(F.silu(gate) * up, g.t(p + "ffn_down.weight"))
        x = x + y

    x = norm(x, "output_norm")
    out_w = g.t("output.weight") if g.has("output.weight") else emb_w  # tied lm_head
    return linear(x, out_w)


def _st_write(path, tensors):
    """Writes {name: float32 ndarray} as a SafeTensors file (8-byte header size, JSON, data)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def write_hf(g, out_dir, shards):
    """The GGUF model as a Hugging Face folder (config.json + safetensors), with the names,
    layouts and config fields transformers uses: llama/mixtral q/k rows back in rotate-half
    order, Mixtral experts split into experts.E.w1/w2/w3, Phi-3 LongRoPE factors in
    rope_scaling, Gemma norms without the +1, StarCoder2 c_fc/c_proj and LayerNorm biases."""
    m = g.meta
    arch = m["general.architecture"]
    a = arch + "."
    E = m[a + "embedding_length"]
    n_layer = m[a + "block_count"]
    n_head = m[a + "attention.head_count"]
    n_kv = m.get(a + "attention.head_count_kv", n_head)
    D = m.get(a + "attention.key_length", E // n_head)
    n_expert = m.get(a + "expert_count", 0)
    V = g.tensors["token_embd.weight"].shape[0]
    T = {}

    def put(name, gguf_name, fn=None):
        w = np.array(g.tensors[gguf_name], dtype=np.float64)
        T[name] = (fn(w) if fn else w).astype(np.float32)

    norm_fn = (lambda w: w - 1.0) if arch == "gemma" else None
    put("model.embed_tokens.weight", "token_embd.weight")
    put("model.norm.weight", "output_norm.weight", norm_fn)
    if arch == "starcoder2":
        put("model.norm.bias", "output_norm.bias")
    if g.has("output.weight") and arch != "gemma":
        put("lm_head.weight", "output.weight")
    def unperm(n):
        if arch != "llama":
            return None
        # As unpermute() above, in numpy.
        return lambda w: w.reshape(n, w.shape[0] // n // 2, 2, *w.shape[1:]).swapaxes(1, 2) \
            .reshape(w.shape)
    for il in range(n_layer):
        p, h = "blk.%d." % il, "model.layers.%d." % il
        put(h + "input_layernorm.weight", p + "attn_norm.weight", norm_fn)
        put(h + "post_attention_layernorm.weight", p + "ffn_norm.weight", norm_fn)
        if arch == "phi3":
            put(h + "self_attn.qkv_proj.weight", p + "attn_qkv.weight")
        else:
            put(h + "self_attn.q_proj.weight", p + "attn_q.weight", unperm(n_head))
            put(h + "self_attn.k_proj.weight", p + "attn_k.weight", unperm(n_kv))
            put(h + "self_attn.v_proj.weight", p + "attn_v.weight")
        put(h + "self_attn.o_proj.weight", p + "attn_output.weight")
        for x in ("q", "k", "v"):
            if g.has(p + "attn_%s.bias" % x):
                put(h + "self_attn.%s_proj.bias" % x, p + "attn_%s.bias" % x)
        if arch == "starcoder2":
            put(h + "self_attn.o_proj.bias", p + "attn_output.bias")
            put(h + "input_layernorm.bias", p + "attn_norm.bias")
            put(h + "post_attention_layernorm.bias", p + "ffn_norm.bias")
            put(h + "mlp.c_fc.weight", p + "ffn_up.weight")
            put(h + "mlp.c_fc.bias", p + "ffn_up.bias")
            put(h + "mlp.c_proj.weight", p + "ffn_down.weight")
            put(h + "mlp.c_proj.bias", p + "ffn_down.bias")
        elif arch == "phi3":
            put(h + "mlp.gate_up_proj.weight", p + "ffn_up.weight")
            put(h + "mlp.down_proj.weight", p + "ffn_down.weight")
        elif n_expert > 0:
            put(h + "block_sparse_moe.gate.weight", p + "ffn_gate_inp.weight")
            for gg, w in (("ffn_gate_exps", "w1"), ("ffn_down_exps", "w2"), ("ffn_up_exps", "w3")):
                stacked = np.array(g.tensors[p + gg + ".weight"], dtype=np.float32)
                for e in range(n_expert):
                    T[h + "block_sparse_moe.experts.%d.%s.weight" % (e, w)] = stacked[e]
        else:
            put(h + "mlp.gate_proj.weight", p + "ffn_gate.weight")
            put(h + "mlp.up_proj.weight", p + "ffn_up.weight")
            put(h + "mlp.down_proj.weight", p + "ffn_down.weight")

    hf_arch = {"llama": "MixtralForCausalLM" if n_expert else "LlamaForCausalLM",
               "qwen2": "Qwen2ForCausalLM", "phi3": "Phi3ForCausalLM",
               "gemma": "GemmaForCausalLM", "starcoder2": "Starcoder2ForCausalLM"}[arch]
    model_type = {"MixtralForCausalLM": "mixtral", "LlamaForCausalLM": "llama"}.get(
        hf_arch, arch)
    cfg = {
        "architectures": [hf_arch], "model_type": model_type, "hidden_size": E,
        "intermediate_size": m[a + "feed_forward_length"], "num_hidden_layers": n_layer,
        "num_attention_heads": n_head, "num_key_value_heads": n_kv, "vocab_size": V,
        "max_position_embeddings": m[a + "context_length"],
        "rope_theta": m.get(a + "rope.freq_base", 10000.0),
        "tie_word_embeddings": not g.has("output.weight") or arch == "gemma",
        "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2,
    }
    if arch == "starcoder2":
        cfg["norm_epsilon"] = m[a + "attention.layer_norm_epsilon"]
        cfg["use_bias"] = True
        cfg["hidden_act"] = "gelu_pytorch_tanh"
    else:
        cfg["rms_norm_eps"] = m[a + "attention.layer_norm_rms_epsilon"]
    if arch == "gemma":
        cfg["head_dim"] = D
        cfg["hidden_activation"] = "gelu_pytorch_tanh"
    if n_expert:
        cfg["num_local_experts"] = n_expert
        cfg["num_experts_per_tok"] = m[a + "expert_used_count"]
    if arch == "phi3":
        cfg["original_max_position_embeddings"] = m[a + "rope.scaling.original_context_length"]
    if arch == "phi3" and g.has("rope_factors_long.weight"):
        cfg["rope_scaling"] = {
            "type": "longrope",
            "long_factor": [float(x) for x in g.tensors["rope_factors_long.weight"]],
            "short_factor": [float(x) for x in g.tensors["rope_factors_short.weight"]]}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    names = sorted(T)
    if shards <= 1:
        _st_write(os.path.join(out_dir, "model.safetensors"), T)
        return
    weight_map = {}
    per = (len(names) + shards - 1) // shards
    for i in range(shards):
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        part = {n: T[n] for n in names[i * per:(i + 1) * per]}
        _st_write(os.path.join(out_dir, fname), part)
        weight_map.update({n: fname for n in part})
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--tokens")
    ap.add_argument("--n-ctx", type=int, default=0)
    ap.add_argument("--write-hf", metavar="DIR",
                    help="write the model as a Hugging Face folder instead of running it")
    ap.add_argument("--shards", type=int, default=1)
    args = ap.parse_args()
    g = Gguf(args.model)
    if args.write_hf:
        write_hf(g, args.write_hf, args.shards)
        return 0
    if not args.out or not args.tokens:
        ap.error("OUT and --tokens are needed to run the model")
    tokens = [int(t) for t in args.tokens.split(",")]
    with torch.no_grad():
        logits = forward(g, tokens, args.n_ctx)
    logits.to(torch.float32).numpy().astype("<f4").tofile(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
