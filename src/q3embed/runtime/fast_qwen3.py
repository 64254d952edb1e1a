"""Padding-free forward of a transformers ``Qwen3Model``, reusing its own modules and weights.

The linear layers, norms and MLPs are the transformers modules themselves (same weights,
same numerics); only the data layout differs. Tokens of all sequences sit in one (N, H) row,
so no FLOP is spent on padding, and attention runs per sequence:

- on CUDA in half precision: one varlen flash-attention call per layer;
- elsewhere: a few padded, masked SDPA calls per layer, sequences of similar length batched
  together (``_PaddedBuckets``); one SDPA call per sequence where batching would pad too much
  and for the final layer's last-token queries (``_choose_padded`` says why).

Two more savings, both exact:

- the last layer computes queries, attention output and MLP only at each sequence's last
  token, the only position that last-token pooling (and the reranker head) reads;
- a cached prefix (the reranker's system prompt + instruction + query, computed once per
  query) supplies keys and values for the tokens before each sequence.

Every operation is differentiable, so training runs this same forward with gradients
(``train/encoding.py``), LoRA layers included (peft's modules are called like the originals).
When the model has gradient checkpointing on and is in training mode, each layer is
recomputed in backward, as transformers would do.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .packing import PackedBatch


# SDPA's own grouped-query attention (torch >= 2.5) reads each kv head for its query heads
# without copying: 3-9% less attention time than repeat_interleave on CPU, identical output
# (docs/benchmarks.md, "Settled findings").
_SDPA_GQA = torch.__version__ >= "2.5"  # a TorchVersion compares as a version, not as a string
_GQA_KW = {"enable_gqa": True} if _SDPA_GQA else {}


@dataclass
class PrefixCache:
    """Keys/values of G prefixes, concatenated per layer: each (Np, n_kv, hd)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    offsets: list[int]  # G + 1 starts of each prefix in the concatenation

    def length(self, g: int) -> int:
        return self.offsets[g + 1] - self.offsets[g]


def supports_packed(model) -> bool:
    """True for a transformers Qwen3 backbone whose every layer is plain full causal attention."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) != "qwen3" or not hasattr(model, "layers"):
        return False
    if any(t != "full_attention" for t in getattr(cfg, "layer_types", None) or ["full_attention"]):
        return False
    rope = getattr(cfg, "rope_parameters", None) or {}
    return rope.get("rope_type", "default") == "default" and getattr(model.rotary_emb, "attention_scaling", 1.0) == 1.0


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (N, heads, hd); cos/sin: (N, 1, hd). Same arithmetic as transformers' apply_rotary_pos_emb."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class PackedQwen3:
    """Runs a ``Qwen3Model`` on a :class:`PackedBatch`; returns final-norm hidden states at last tokens."""

    def __init__(self, model):
        if not supports_packed(model):
            raise ValueError("PackedQwen3 needs a transformers Qwen3Model with full causal attention and default RoPE")
        self.model = model
        cfg = model.config
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.scale = self.head_dim ** -0.5
        p = next(model.parameters())
        self._varlen = _varlen_attention() if p.device.type == "cuda" and p.dtype in (torch.float16, torch.bfloat16) else None

    @property
    def attention_kind(self) -> str:
        return "varlen-flash" if self._varlen is not None else "sdpa-bucketed"

    def last_hidden(self, batch: PackedBatch, prefix: PrefixCache | None = None) -> torch.Tensor:
        """(B, H) hidden state after the final norm at each sequence's last token."""
        return self._run(batch, prefix, kv_only=False)

    def prefix_cache(self, prefixes: list[list[int]]) -> PrefixCache:
        """Compute keys/values of each prefix once (e.g. one per reranker query)."""
        batch = _pack_plain(prefixes, next(self.model.parameters()).device)
        keys, values = self._run(batch, None, kv_only=True)
        offsets = [0]
        for p in prefixes:
            offsets.append(offsets[-1] + len(p))
        return PrefixCache(keys, values, offsets)

    def _run(self, batch: PackedBatch, prefix: PrefixCache | None, kv_only: bool):
        m = self.model
        x = m.embed_tokens(batch.input_ids)  # (N, H)
        cos, sin = m.rotary_emb(x, batch.positions[None])  # (1, N, hd) each
        cos, sin = cos[0, :, None, :], sin[0, :, None, :]  # (N, 1, hd)
        last = batch.last_index  # (B,)
        plan = _AttentionPlan(batch, prefix, x.device, varlen=self._varlen is not None)
        kv = [] if kv_only else None
        # Training with gradient checkpointing (switched on on the model, as in transformers): keep
        # only each layer's input and recompute the layer in backward. Never under no_grad/inference.
        recompute = torch.is_grad_enabled() and m.training and _checkpointing(m)
        n_layers = len(m.layers)
        for i, layer in enumerate(m.layers):
            args = (layer, x, cos, sin, last, plan, prefix, i, i == n_layers - 1, kv)
            if recompute and not kv_only:
                from torch.utils.checkpoint import checkpoint

                x = checkpoint(self._layer, *args, use_reentrant=False)
            else:
                x = self._layer(*args)
        if kv_only:
            return [k for k, _ in kv], [v for _, v in kv]
        return m.norm(x)  # (B, H)

    def _layer(self, layer, x, cos, sin, last, plan: "_AttentionPlan", prefix: PrefixCache | None, i: int,
               final: bool, kv: list | None) -> torch.Tensor | None:
        """One decoder layer on the packed row x (N, H); the final layer returns only last tokens (B, H).

        ``kv`` (a list): collect this layer's keys/values there; the final layer then stops early.
        """
        attn = layer.self_attn
        h = layer.input_layernorm(x)  # (N, H)
        k = _rope(attn.k_norm(attn.k_proj(h).view(h.shape[0], self.n_kv, self.head_dim)), cos, sin)  # (N, kv, hd)
        v = attn.v_proj(h).view(h.shape[0], self.n_kv, self.head_dim)  # (N, kv, hd)
        if kv is not None:
            kv.append((k, v))
            if final:  # a prefix's own outputs are never read, only its keys/values
                return None
        # Last layer: only last tokens are pooled, so only they need queries and an MLP.
        rows = last if final else slice(None)
        q = attn.q_proj(h[rows]).view(-1, self.n_heads, self.head_dim)  # (Nq, nh, hd)
        q = _rope(attn.q_norm(q), cos[rows], sin[rows])
        pk = prefix.keys[i] if prefix is not None else None
        pv = prefix.values[i] if prefix is not None else None
        o = self._attend(q, k, v, pk, pv, plan, last_only=final)  # (Nq, nh, hd)
        x = x[rows] + attn.o_proj(o.reshape(o.shape[0], -1))  # (Nq, H)
        return x + layer.mlp(layer.post_attention_layernorm(x))

    def _attend(self, q, k, v, pk, pv, plan: "_AttentionPlan", last_only: bool) -> torch.Tensor:
        if self._varlen is not None:
            try:
                return self._attend_varlen(q, k, v, pk, pv, plan, last_only)
            except (RuntimeError, TypeError) as e:  # e.g. a torch build whose varlen kernel refuses these inputs
                warnings.warn(f"varlen attention failed ({str(e).splitlines()[0]}); using bucketed SDPA")
                self._varlen = None
        buckets = plan.padded(last_only)
        if buckets is not None:
            return self._attend_padded(q, k, v, pk, pv, buckets)
        return self._attend_loop(q, k, v, pk, pv, plan, last_only)

    def _attend_padded(self, q, k, v, pk, pv, buckets: "_PaddedBuckets") -> torch.Tensor:
        """Same result as ``_attend_loop`` with one masked SDPA call per bucket of rows."""
        rep = self.n_heads // self.n_kv
        q_all = torch.cat([q, q.new_zeros(1, *q.shape[1:])])  # (Nq + 1, nh, hd): the last row is padding
        k_all = torch.cat(([] if pk is None else [pk]) + [k, k.new_zeros(1, *k.shape[1:])])  # (Np + N + 1, kv, hd)
        v_all = torch.cat(([] if pv is None else [pv]) + [v, v.new_zeros(1, *v.shape[1:])])
        outs = []
        for bk in buckets.buckets:
            nb, _, tq, tk = bk.mask.shape
            qb = q_all[bk.q_index].view(nb, tq, *q.shape[1:])  # (b, Tq, nh, hd)
            kb = k_all[bk.k_index].view(nb, tk, *k.shape[1:])  # (b, Tk, kv, hd): prefix keys, own keys, padding
            vb = v_all[bk.k_index].view(nb, tk, *v.shape[1:])
            if not _SDPA_GQA:  # older torch: expand the kv heads to the query heads by copying
                kb, vb = kb.repeat_interleave(rep, dim=2), vb.repeat_interleave(rep, dim=2)  # (b, Tk, nh, hd)
            out = F.scaled_dot_product_attention(
                qb.transpose(1, 2), kb.transpose(1, 2), vb.transpose(1, 2),  # (b, heads, T, hd)
                attn_mask=bk.mask, scale=self.scale, **_GQA_KW,
            ).transpose(1, 2)  # (b, Tq, nh, hd)
            outs.append(out.reshape(nb * tq, *out.shape[2:])[bk.out_index])  # (the bucket's real queries, nh, hd)
        return torch.cat(outs)[buckets.order]  # (Nq, nh, hd) in the packed order

    def _attend_loop(self, q, k, v, pk, pv, plan: "_AttentionPlan", last_only: bool) -> torch.Tensor:
        rep = self.n_heads // self.n_kv
        outs = []
        for b, (s, n, g) in enumerate(zip(plan.starts, plan.lengths, plan.groups)):
            kb, vb = k[s:s + n], v[s:s + n]  # (n, kv, hd)
            if g >= 0:
                a, e = plan.prefix_offsets[g], plan.prefix_offsets[g + 1]
                kb, vb = torch.cat([pk[a:e], kb]), torch.cat([pv[a:e], vb])  # (P + n, kv, hd)
            qb = q[b:b + 1] if last_only else q[s:s + n]  # (Tq, nh, hd)
            n_pad = kb.shape[0] - qb.shape[0] if not last_only else 0
            if n_pad:
                # Queries after a cached prefix need a bottom-right causal mask; zero query
                # rows in front turn it into the plain causal case, which has a fused kernel.
                qb = torch.cat([qb.new_zeros(n_pad, *qb.shape[1:]), qb])
            if not _SDPA_GQA:  # older torch: expand the kv heads to the query heads by copying
                kb, vb = kb.repeat_interleave(rep, dim=1), vb.repeat_interleave(rep, dim=1)  # (Tk, nh, hd)
            out = F.scaled_dot_product_attention(
                qb.transpose(0, 1)[None],  # (1, nh, T, hd)
                kb.transpose(0, 1)[None],  # (1, kv or nh, Tk, hd)
                vb.transpose(0, 1)[None],
                is_causal=not last_only, scale=self.scale, **_GQA_KW,
            )[0].transpose(0, 1)  # (T, nh, hd)
            outs.append(out[n_pad:])
        return torch.cat(outs)

    def _attend_varlen(self, q, k, v, pk, pv, plan: "_AttentionPlan", last_only: bool) -> torch.Tensor:
        rep = self.n_heads // self.n_kv
        if pk is not None:
            k = torch.cat([pk, k])[plan.key_index]  # (Nk, kv, hd): each prefix just before its sequence
            v = torch.cat([pv, v])[plan.key_index]
        if last_only:  # one query per sequence, its last token: it sees every key, no mask
            return self._varlen(q, k, v, plan.cu_last, plan.cu_k, 1, plan.max_k, self.scale, rep, False)
        if pk is None:  # queries and keys are the same tokens
            return self._varlen(q, k, v, plan.cu_k, plan.cu_k, plan.max_k, plan.max_k, self.scale, rep, True)
        # After a prefix there are fewer queries than keys. Rather than rely on the kernel's
        # alignment of a causal mask (bottom-right in flash-attention 2, not in every backend),
        # place the queries at their key positions in a zero-filled row of equal length.
        q_full = q.new_zeros(k.shape[0], *q.shape[1:])  # (Nk, nh, hd)
        q_full[plan.own_index] = q
        out = self._varlen(q_full, k, v, plan.cu_k, plan.cu_k, plan.max_k, plan.max_k, self.scale, rep, True)
        return out[plan.own_index]  # (N, nh, hd)


class _AttentionPlan:
    """Per-batch boundaries, computed once and shared by every layer."""

    def __init__(self, batch: PackedBatch, prefix: PrefixCache | None, device: torch.device, varlen: bool):
        self.starts, self.lengths = batch.starts, batch.lengths
        self.groups = batch.prefix_group if prefix is not None else [-1] * len(batch.lengths)
        self.prefix_offsets = prefix.offsets if prefix is not None else [0]
        plen = [prefix.length(g) if g >= 0 else 0 for g in self.groups] if prefix is not None else [0] * len(self.lengths)
        klen = [p + n for p, n in zip(plen, self.lengths)]
        self.prefix_lengths, self.k_lengths = plen, klen
        self.max_k = max(klen)
        self._device, self._padded = device, {}
        if not varlen:
            return  # the loop path slices on the host; the padded path builds its indices on first use
        self.cu_k = torch.tensor([0] + klen, dtype=torch.int32).cumsum(0, dtype=torch.int32).to(device)  # (B+1,)
        self.cu_last = torch.arange(len(self.lengths) + 1, dtype=torch.int32, device=device)  # (B+1,)
        if prefix is not None:
            n_prefix = prefix.offsets[-1]
            key_idx, own_idx, at = [], [], 0
            for s, n, g, p in zip(self.starts, self.lengths, self.groups, plen):
                if g >= 0:
                    key_idx.append(torch.arange(prefix.offsets[g], prefix.offsets[g + 1]))
                key_idx.append(torch.arange(n_prefix + s, n_prefix + s + n))
                own_idx.append(torch.arange(at + p, at + p + n))
                at += p + n
            self.key_index = torch.cat(key_idx).to(device)  # (Nk,) into cat(prefix keys, own keys)
            self.own_index = torch.cat(own_idx).to(device)  # (N,) own tokens' places among the keys

    def padded(self, last_only: bool) -> "_PaddedBuckets | None":
        """The padded path's buckets (built once per batch and kind), or None where the loop is used."""
        if last_only not in self._padded:
            self._padded[last_only] = _choose_padded(self, last_only)
        return self._padded[last_only]


# Padded batching computes every (query, key) pair of a bucket's Tq_max x Tk_max box, the
# per-sequence loop only its own Tq x Tk; but on CPU each SDPA call costs far more than its
# FLOPs at these sizes (2,827 calls ran at 10-15 GFLOP/s). Rows are therefore
# batched, longest first, as long as a bucket's padded box stays within this factor of its rows'
# own boxes; a row that would break it starts a new bucket (a bucket of one is the loop's call).
# 1.1 measured best on the reranker's 1 x 100 (0.6B shape, bf16, 1 thread, its own 16-row
# batches: 0.180 CPU s per layer vs the loop's 0.253; 1.25-inf: 0.196-0.202; docs/benchmarks.md).
# On all 100 rows in one batch, where padding can grow, 1.1-1.25: 0.21, 2: 0.29, inf: 0.46.
_PAD_FACTOR = 1.1


def _choose_padded(plan: "_AttentionPlan", last_only: bool) -> "_PaddedBuckets | None":
    """The one place that picks the padded path (its buckets) or the per-sequence loop (None).

    The loop where nothing would be batched (every bucket one row), and for the final layer's
    last tokens: one query per row needs no mask there, and those small unmasked calls beat the
    padded gather + masked call (0.070 vs 0.094-0.136 CPU s per layer on the 1 x 100 above).
    """
    if last_only:
        return None
    pb = _padded_buckets(plan, last_only, plan._device)
    return None if len(pb.buckets) == len(plan.lengths) else pb


@dataclass
class _Bucket:
    q_index: torch.Tensor  # (b * Tq,) into cat(queries, one zero row); padding points at the zero row
    k_index: torch.Tensor  # (b * Tk,) into cat(prefix keys, own keys, one zero row)
    mask: torch.Tensor  # (b, 1, Tq, Tk) bool: True where a query may attend
    out_index: torch.Tensor  # (the bucket's real queries,) into the flattened (b * Tq) outputs


@dataclass
class _PaddedBuckets:
    buckets: list[_Bucket]
    order: torch.Tensor  # (Nq,): packed query i is row order[i] of the buckets' concatenated outputs


def _bucket_rows(q_len: list[int], k_len: list[int]) -> list[list[int]]:
    """Rows grouped for padded attention, under the ``_PAD_FACTOR`` rule (longest keys first)."""
    rows = sorted(range(len(k_len)), key=lambda b: (-k_len[b], -q_len[b]))
    buckets, cur, own, mq, mk = [], [], 0, 0, 0
    for b in rows:
        nq, nk = max(mq, q_len[b]), max(mk, k_len[b])
        if cur and (len(cur) + 1) * nq * nk > _PAD_FACTOR * (own + q_len[b] * k_len[b]):
            buckets.append(cur)
            cur, own, nq, nk = [], 0, q_len[b], k_len[b]
        cur.append(b)
        own += q_len[b] * k_len[b]
        mq, mk = nq, nk
    return buckets + [cur]


def _padded_buckets(plan: "_AttentionPlan", last_only: bool, device) -> _PaddedBuckets:
    """Index tensors and masks of the padded path, for all queries or (``last_only``) last tokens only."""
    n_rows, n_tokens = len(plan.lengths), sum(plan.lengths)
    n_prefix = plan.prefix_offsets[-1]
    q_len = [1] * n_rows if last_only else list(plan.lengths)
    q_pad, k_pad = (n_rows if last_only else n_tokens), n_prefix + n_tokens
    buckets, order, done = [], [0] * (n_rows if last_only else n_tokens), 0
    for rows in _bucket_rows(q_len, plan.k_lengths):
        tq, tk = max(q_len[b] for b in rows), max(plan.k_lengths[b] for b in rows)
        q_idx = torch.full((len(rows), tq), q_pad, dtype=torch.long)
        k_idx = torch.full((len(rows), tk), k_pad, dtype=torch.long)
        mask = torch.zeros(len(rows), 1, tq, tk, dtype=torch.bool)
        out_idx = []
        for i, b in enumerate(rows):
            s, n, g, p = plan.starts[b], plan.lengths[b], plan.groups[b], plan.prefix_lengths[b]
            if g >= 0:
                k_idx[i, :p] = torch.arange(plan.prefix_offsets[g], plan.prefix_offsets[g + 1])
            k_idx[i, p:p + n] = torch.arange(n_prefix + s, n_prefix + s + n)
            if last_only:  # its last token sees every key of the row
                q_idx[i, 0] = b
                mask[i, 0, 0, :p + n] = True
                order[b] = done
            else:  # query j (at key position p + j) sees the prefix and own keys up to itself
                q_idx[i, :n] = torch.arange(s, s + n)
                mask[i, 0, :n, :p + n] = torch.ones(n, p + n, dtype=torch.bool).tril(p)
                # Padding queries see the row's keys too: a fully masked row would give NaN,
                # which the slicing drops in forward but which backward would spread into dK/dV.
                mask[i, 0, n:, :p + n] = True
                order[s:s + n] = range(done, done + n)
            out_idx.append(torch.arange(i * tq, i * tq + q_len[b]))
            done += q_len[b]
        buckets.append(_Bucket(q_idx.flatten().to(device), k_idx.flatten().to(device), mask.to(device),
                               torch.cat(out_idx).to(device)))
    return _PaddedBuckets(buckets, torch.tensor(order, dtype=torch.long, device=device))


def _checkpointing(model) -> bool:
    """Whether transformers' gradient (activation) checkpointing is switched on for ``model``'s layers."""
    return any(getattr(layer, "gradient_checkpointing", False) for layer in model.layers)


def _pack_plain(rows: list[list[int]], device) -> PackedBatch:
    from .packing import pack

    return pack(rows, device)


def _varlen_attention():
    """``(q, k, v, cu_q, cu_k, max_q, max_k, scale, rep, causal) -> out`` over torch's varlen flash attention.

    None where torch has none. The API changed between torch releases (``is_causal`` became
    ``window_size``; ``enable_gqa`` came later), so the call is shaped from its signature.
    Callers only ask for a causal mask where queries and keys have equal lengths, so the
    mask's alignment convention does not matter.
    """
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        _warn_no_varlen()
        return None
    params = inspect.signature(varlen_attn).parameters
    native_gqa = "enable_gqa" in params

    def attend(q, k, v, cu_q, cu_k, max_q, max_k, scale, rep, causal):
        if "window_size" in params:
            extra = {"window_size": (-1, 0) if causal else (-1, -1)}
        else:
            extra = {"is_causal": causal}
        if native_gqa:
            extra["enable_gqa"] = True
        else:
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)  # (Nk, nh, hd)
        return varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k, scale=scale, **extra)

    return attend


@functools.cache
def _warn_no_varlen() -> None:
    """Say once per process that CUDA runs the slower per-sequence path, and why (never silently)."""
    warnings.warn(f"torch {torch.__version__} has no torch.nn.attention.varlen (torch 2.10 or newer has it): "
                  "the packed forward on CUDA falls back to per-sequence or padded SDPA attention, which is slower; "
                  "upgrade torch for the varlen flash-attention path", RuntimeWarning, stacklevel=3)


def packed_forward_for(model, current: PackedQwen3 | None) -> PackedQwen3 | None:
    """``current`` if it still wraps ``model`` (which callers may swap), a new one, or None if unsupported."""
    if current is not None and current.model is model:
        return current
    return PackedQwen3(model) if supports_packed(model) else None
