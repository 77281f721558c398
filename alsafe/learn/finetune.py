"""The plain PyTorch pieces behind :class:`alsafe.learn.transformer.TransformerClassifier`.

Texts are tokenized once into one right-padded tensor; a batch is an index into it, cut to the batch's
longest text (dynamic padding without re-tokenizing). Kept apart from the estimator so the benchmark can
time the same loop bare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch.nn import functional

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")  # as transformers' Trainer


@dataclass
class TokenizedTexts:
    """Token ids of many texts, right-padded into one tensor, with each text's length."""

    input_ids: torch.Tensor  # (n_texts, longest) int64
    lengths: torch.Tensor  # (n_texts,) int64

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, indices: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
        """``input_ids`` and ``attention_mask`` of the texts at ``indices``, padded to their longest."""
        lengths = self.lengths[indices]
        longest = int(lengths.max())
        input_ids = self.input_ids[indices, :longest]
        attention_mask = (torch.arange(longest).unsqueeze(0) < lengths.unsqueeze(1)).long()
        return {"input_ids": input_ids.to(device, non_blocking=True),
                "attention_mask": attention_mask.to(device, non_blocking=True)}


def pretokenize(tokenizer, texts: Sequence[str], max_length: int) -> TokenizedTexts:
    """Tokenize ``texts`` once (truncated to ``max_length`` tokens)."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)["input_ids"]
    # an empty text gives no tokens under some tokenizers (SmolLM2's); one stand-in token keeps the mask non-empty
    filler = next(token for token in (tokenizer.bos_token_id, tokenizer.unk_token_id, tokenizer.eos_token_id, 0)
                  if token is not None)
    ids = [row if row else [filler] for row in ids]
    lengths = torch.tensor([len(row) for row in ids], dtype=torch.long)
    longest = int(lengths.max()) if len(ids) else 1
    input_ids = torch.full((len(ids), longest), tokenizer.pad_token_id, dtype=torch.long)
    for position, row in enumerate(ids):
        input_ids[position, :len(row)] = torch.tensor(row, dtype=torch.long)
    return TokenizedTexts(input_ids, lengths)


def make_optimizer(model: torch.nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on weights only (not on biases and norms); the fused kernel where torch has one."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if name.endswith(NO_DECAY) else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # the per-tensor loop is several times slower on CPU, where the embedding matrix dominates each step
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in decay + no_decay)
    return torch.optim.AdamW(groups, lr=learning_rate, fused=fused or None)


def linear_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int):
    """Linear warm-up to the learning rate, then linear decay to zero (transformers' default schedule)."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_epoch(model, tokens: TokenizedTexts, targets: torch.Tensor, optimizer, scheduler, batch_size: int,
                generator: torch.Generator, device: torch.device, max_grad_norm: float | None = 1.0,
                progress=None, max_batches: int | None = None) -> float:
    """One pass over the data in an order drawn from ``generator`` (the first ``max_batches`` batches of it
    when given); returns the mean training loss. ``progress`` advances by one per optimizer step."""
    model.train()
    order = torch.randperm(len(tokens), generator=generator)
    if max_batches is not None:
        order = order[: max_batches * batch_size]
    total, seen = 0.0, 0
    for start in range(0, len(order), batch_size):
        indices = order[start:start + batch_size]
        logits = model(**tokens.batch(indices, device)).logits
        loss = functional.cross_entropy(logits.float(), targets[indices].to(device))
        loss.backward()
        if max_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        total += float(loss.detach()) * len(indices)
        seen += len(indices)
        if progress is not None:
            progress.update(1)
    return total / max(seen, 1)


def predict_logits(model, tokens: TokenizedTexts, batch_size: int, device: torch.device) -> torch.Tensor:
    """Logits of every text, in input order; batches group similar lengths to pad little."""
    model.eval()
    order = torch.argsort(tokens.lengths, descending=True, stable=True)
    parts = []
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            parts.append(model(**tokens.batch(order[start:start + batch_size], device)).logits.float().cpu())
    logits = torch.cat(parts) if parts else torch.zeros((0, model.config.num_labels))
    result = torch.empty_like(logits)
    result[order] = logits
    return result
