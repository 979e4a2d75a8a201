#!/usr/bin/env python3
"""Independent reference embeddings for all-MiniLM-L6-v2.

The Rust local embedder runs the model with candle and the `tokenizers`
crate. This script shares neither: it tokenises with a plain-Python BERT
WordPiece tokenizer over `vocab.txt` and runs the six encoder layers in
numpy over `model.safetensors`, then mean-pools over the attention mask and
L2-normalises (the model card's recipe). Its output is committed as
`tests/fixtures/minilm_reference.json`; the `embedders` suite checks the
Rust vectors against it (cosine >= 0.99), besides the few published values.

Usage: python3 tests/reference/minilm_reference.py MODEL_DIR > tests/fixtures/minilm_reference.json
Needs: pip install numpy safetensors (only to regenerate the fixture).
"""

import json
import math
import sys
import unicodedata

import numpy as np
from safetensors.numpy import load_file

SENTENCES = [
    "hello world",
    "This is an example sentence",
    "Each sentence is converted",
    "The weather forecast says heavy showers are expected on Thursday.",
    "Deploy the MCP server to a Kubernetes cluster with three replicas.",
    "Résumé of a naïve café owner, written in 2024!",
]
MAX_TOKENS = 256


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def basic_tokenize(text):
    # Clean control characters, space CJK, lowercase and strip accents
    # (BertNormalizer with lowercase and strip_accents unset), split on
    # whitespace and punctuation (BertPreTokenizer).
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\n\r"):
            continue
        if is_cjk(cp):
            out.append(" " + ch + " ")
        elif ch.isspace():
            out.append(" ")
        else:
            out.append(ch)
    text = "".join(out).lower()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    words = []
    for token in text.split():
        cur = ""
        for ch in token:
            if is_punct(ch):
                if cur:
                    words.append(cur)
                    cur = ""
                words.append(ch)
            else:
                cur += ch
        if cur:
            words.append(cur)
    return words


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while start < end:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in vocab:
                found = sub
                break
            end -= 1
        if found is None:
            return ["[UNK]"]
        pieces.append(found)
        start = end
    return pieces


def tokenize(text, vocab):
    pieces = [p for w in basic_tokenize(text) for p in wordpiece(w, vocab)]
    pieces = pieces[: MAX_TOKENS - 2]
    return [vocab["[CLS]"]] + [vocab[p] for p in pieces] + [vocab["[SEP]"]]


def layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def embed(ids, w, heads=12, layers=6):
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    hidden = x.shape[1]
    hd = hidden // heads
    for i in range(layers):
        p = f"encoder.layer.{i}."
        lin = lambda t, name: t @ w[p + name + ".weight"].T + w[p + name + ".bias"]
        q = lin(x, "attention.self.query").reshape(n, heads, hd).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(n, heads, hd).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(n, heads, hd).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, hidden)
        x = layer_norm(
            lin(ctx, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        h = gelu(lin(x, "intermediate.dense"))
        x = layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    # One unpadded sentence: every token is in the mask.
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def main():
    model_dir = sys.argv[1]
    with open(f"{model_dir}/vocab.txt", encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    weights = {k: v.astype(np.float64) for k, v in load_file(f"{model_dir}/model.safetensors").items()}
    weights = {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in weights.items()}
    out = []
    for s in SENTENCES:
        ids = tokenize(s, vocab)
        vec = embed(np.array(ids), weights)
        out.append({"text": s, "token_ids": ids, "embedding": [round(float(x), 7) for x in vec]})
    json.dump({"model": "sentence-transformers/all-MiniLM-L6-v2", "references": out}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
