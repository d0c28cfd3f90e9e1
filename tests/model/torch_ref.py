#!/usr/bin/python3
"""Independent PyTorch forward pass for tokamak's architecture tests.

Reads a GGUF file itself (F32/F16 tensors and the metadata needed), rebuilds each architecture
the way Hugging Face transformers computes it (LlamaForCausalLM with un-permuted q/k and
rotate_half RoPE, Qwen2, Phi3 with fused qkv_proj / gate_up_proj and LongRoPE, Gemma with
(1 + w) RMSNorm and sqrt(hidden) embedding scale, StarCoder2 with nn.LayerNorm and biases,
Mixtral-style routing), runs it in float64 over the given tokens and writes all logits as
float32 [n_tokens, n_vocab] little-endian.

Usage: torch_ref.py MODEL.gguf OUT.bin --tokens 1,2,3 [--n-ctx N]
--n-ctx picks Phi-3's LongRoPE long factors when N exceeds the original context (as
llama.cpp fixes the choice per context); transformers decides the same way from the sequence
length, which in these tests is always the shorter one.
"""
import argparse
import math
import struct
import sys

import numpy as np
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--n-ctx", type=int, default=0)
    args = ap.parse_args()
    g = Gguf(args.model)
    tokens = [int(t) for t in args.tokens.split(",")]
    with torch.no_grad():
        logits = forward(g, tokens, args.n_ctx)
    logits.to(torch.float32).numpy().astype("<f4").tofile(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
