"""A Pixtral-architecture model: the decoder of model.py whose `[IMG]` token embeddings are replaced,
in order, by the vision encoder + projector's rows (reference vision.md §3). `[IMG_BREAK]`,
`[IMG_END]` and text keep their token embeddings; positions stay ordinary 1-D RoPE positions.

The vision parts hang off the model under the checkpoint's top-level names (`vision_encoder`,
`pre_mm_projector_norm`, `patch_merger`, `vision_language_adapter`), so `state_dict()` keys are
exactly those of Mistral's consolidated.safetensors.
"""
from __future__ import annotations

import torch

from .model import AttentionFn, ModelArgs, RMSNorm, Transformer, sdpa_attention
from .vision_encoder import PatchMerger, VisionArgs, VisionEncoder, VisionLanguageAdapter

ENCODER_PARTS = ("vision_encoder",)
PROJECTOR_PARTS = ("pre_mm_projector_norm", "patch_merger", "vision_language_adapter")


class MultimodalTransformer(Transformer):
    def __init__(self, args: ModelArgs, vision: VisionArgs, attend: AttentionFn = sdpa_attention):
        super().__init__(args, attend)
        vision.check()
        self.vision_args = vision
        self.vision_encoder = VisionEncoder(vision)
        self.pre_mm_projector_norm = RMSNorm(vision.hidden_size, vision.mm_norm_eps) if vision.add_pre_mm_projector_layer_norm else None
        self.patch_merger = PatchMerger(vision.hidden_size, vision.spatial_merge_size) if vision.mm_projector_id == "patch_merge" else None
        self.vision_language_adapter = VisionLanguageAdapter(vision.hidden_size, args.dim, vision.adapter_bias)

    def image_features(self, images: list[torch.Tensor]) -> torch.Tensor:
        """One decoder-width row per `[IMG]` token of `images`, image after image, row-major."""
        x, grids = self.vision_encoder(images)
        if self.pre_mm_projector_norm is not None:
            x = self.pre_mm_projector_norm(x.to(self.pre_mm_projector_norm.weight.dtype))
        if self.patch_merger is not None:
            x = self.patch_merger(x, grids)
        return self.vision_language_adapter(x)

    def embed(self, tokens: torch.Tensor, images: list[torch.Tensor] | None) -> torch.Tensor:
        h = self.tok_embeddings(tokens)
        slots = tokens == self.vision_args.image_token_id
        n_slots = int(slots.sum())
        if not images:
            if n_slots:
                raise ValueError(f"the tokens hold {n_slots} [IMG] tokens but no images were given")
            return h
        features = self.image_features(images)
        if features.shape[0] != n_slots:
            raise ValueError(f"image features and [IMG] tokens do not match: {len(images)} image(s) give "
                             f"{features.shape[0]} features, the tokens hold {n_slots} [IMG] tokens")
        # out of place (index_put), so gradients reach both the token embeddings and the features
        return h.index_put((slots,), features.to(h.dtype))
