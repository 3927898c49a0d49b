"""`tiny-random`: the real `Flux2KleinPipeline` with tiny, randomly initialised components
built here from configs, so that tests, CI and smoke runs go through the same diffusers code
as `flux2-klein-4b` with no download and no files. Its pictures are noise.

The weights come from a fixed seed, so two processes build the same model and the same seed
gives the same picture in both. `build_tiny_flux2_klein_pipeline()` is public so that tests can
`save_pretrained()` it into a diffusers folder that `flux2-klein-4b` loads like real weights.

The text encoder has 27 layers (of 16 numbers each) because the pipeline reads the hidden
states of layers 9, 18 and 27, as it does for the real Qwen3-4B; so the tiny model needs no
special call and `flux2-klein-4b`'s code runs unchanged on it.

`build_tiny_qwen_image_edit_pipeline()` does the same for `qwen-image-edit-2511`: the real
QwenImageEditPlusPipeline with a tiny Qwen2.5-VL text encoder (its vision tower included, as
the pipeline shows it the reference pictures), so tests can save it into a folder that the
qwen module loads like the real weights. It is not a registered model of its own.
"""
from .. import devices
from .base import ModelSpec
from .flux2_klein import Flux2KleinModel

WEIGHTS_SEED = 0

# The layers Flux2KleinPipeline reads from the text encoder by default, and the width of
# each; the transformer takes the three stacked side by side.
TEXT_ENCODER_LAYERS = 27
TEXT_HIDDEN_SIZE = 16
TEXT_OUT_LAYERS = 3

# Four VAE blocks make the same 8x downscale as the real VAE, so pictures keep the real
# model's token counts per pixel (and its multiple of 16); 4 latent channels, 2x2 patches.
VAE_CHANNELS = (8, 8, 8, 8)
LATENT_CHANNELS = 4

# Qwen-style chat markup: the pipeline wraps each prompt in the tokenizer's chat template.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def build_tiny_flux2_klein_pipeline():
    """A Flux2KleinPipeline of tiny random components on the CPU in float32, the same
    weights on every call and in every process."""
    import torch
    from diffusers import Flux2KleinPipeline

    # fork_rng: seed the weights without changing the caller's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        return Flux2KleinPipeline(
            scheduler=_scheduler(),
            vae=_vae(),
            text_encoder=_text_encoder(len(_byte_vocab()) + len(SPECIAL_TOKENS)),
            tokenizer=_tokenizer(),
            transformer=_transformer(),
            is_distilled=True,
        )


def _byte_vocab():
    """One token per byte, spelled the way byte-level BPE spells bytes, and no merges: any
    text tokenizes, one token a byte."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    return {char: index for index, char in enumerate(bytes_to_unicode().values())}


def _tokenizer():
    """A byte-level BPE tokenizer (the `tokenizers` library) as the Qwen2 tokenizer class the
    pipeline expects, with the chat markup tokens and a chat template."""
    from transformers import Qwen2TokenizerFast

    vocab = _byte_vocab()
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2TokenizerFast(vocab=vocab, merges=[], chat_template=CHAT_TEMPLATE)
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    return tokenizer


def _text_encoder(vocab_size):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab_size, hidden_size=TEXT_HIDDEN_SIZE, intermediate_size=32,
        num_hidden_layers=TEXT_ENCODER_LAYERS, num_attention_heads=2, num_key_value_heads=1,
        head_dim=8, max_position_embeddings=1024, tie_word_embeddings=True,
    )
    return Qwen3ForCausalLM(config).eval()


def _transformer():
    from diffusers import Flux2Transformer2DModel

    return Flux2Transformer2DModel(
        patch_size=1, in_channels=LATENT_CHANNELS * 4, num_layers=1, num_single_layers=1,
        attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=TEXT_HIDDEN_SIZE * TEXT_OUT_LAYERS,
        timestep_guidance_channels=32, axes_dims_rope=(4, 4, 4, 4),
        guidance_embeds=False,   # distilled: the pipeline passes no guidance
    )


def _vae():
    from diffusers import AutoencoderKLFlux2

    # No attention in the middle block: at 512x640 it would be most of the tiny model's time.
    return AutoencoderKLFlux2(
        block_out_channels=VAE_CHANNELS, layers_per_block=1, latent_channels=LATENT_CHANNELS,
        norm_num_groups=4, mid_block_add_attention=False, sample_size=64,
    )


def _scheduler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    # The pipeline passes `mu` for the picture's size, which needs dynamic shifting.
    return FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True)


# --- the tiny Qwen-Image-Edit pipeline ---------------------------------------------------

# The Qwen2.5-VL chat markup and vision tokens the pipeline's prompt template and its processor
# use ("Picture 1: <|vision_start|><|image_pad|><|vision_end|>"); the processor repeats
# <|image_pad|> once per merged patch of each picture.
QWEN_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                       "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
QWEN_TEXT_HIDDEN_SIZE = 16
QWEN_LATENT_CHANNELS = 4
# Five VAE levels downscale 16x (the real VAE: 8x). The pipeline gives the VAE each reference
# at about a megapixel whatever the output size, so at 8x the two references alone would be
# 8192 tokens for every transformer call; at 16x they are 2048 and a 40-step job with true
# CFG stays near a second on a CPU. The cost: the tiny pipeline's sizes are multiples of 32.
# No residual blocks: at a megapixel each would cost more than the rest of the encoder.
QWEN_VAE_LEVELS = (1, 1, 1, 1, 1)
QWEN_VAE_BASE_CHANNELS = 4
QWEN_VAE_RES_BLOCKS = 0
# The vision tower sees each reference at about 384x384 (the pipeline's choice), in 14-pixel
# patches merged 2x2: a few hundred tokens a picture; one small block keeps that cheap.
QWEN_VISION_HIDDEN_SIZE = 16


def build_tiny_qwen_image_edit_pipeline():
    """A QwenImageEditPlusPipeline of tiny random components on the CPU in float32, the same
    weights on every call and in every process."""
    import torch
    from diffusers import QwenImageEditPlusPipeline

    from .qwen_image_edit import image_only_processor

    tokenizer = _qwen_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        pipeline = QwenImageEditPlusPipeline(
            scheduler=_qwen_scheduler(),
            vae=_qwen_vae(),
            text_encoder=_qwen_text_encoder(tokenizer),
            tokenizer=tokenizer,
            processor=image_only_processor(_qwen_image_processor(), tokenizer),
            transformer=_qwen_transformer(),
        )
    # Record the processor as the real repository's model_index.json does; the qwen module
    # builds its processor itself from the processor/ folder (see image_only_processor).
    pipeline.register_to_config(processor=("transformers", "Qwen2VLProcessor"))
    return pipeline


def _qwen_tokenizer():
    """Byte-level like the klein one, with Qwen2.5-VL's chat and vision tokens."""
    from transformers import Qwen2TokenizerFast

    vocab = _byte_vocab()
    for token in QWEN_SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2TokenizerFast(vocab=vocab, merges=[], chat_template=CHAT_TEMPLATE)
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS[1:])})
    return tokenizer


def _qwen_image_processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    return Qwen2VLImageProcessorPil()


def _qwen_text_encoder(tokenizer):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    token_id = tokenizer.convert_tokens_to_ids
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": QWEN_TEXT_HIDDEN_SIZE,
            "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "num_key_value_heads": 2, "max_position_embeddings": 4096,
            "bos_token_id": token_id("<|endoftext|>"), "eos_token_id": token_id("<|im_end|>"),
            # The multimodal rotary sections (time, height, width) add up to half a head.
            "rope_parameters": {"rope_type": "default", "mrope_section": [1, 1, 2],
                                "rope_theta": 1000000.0},
        },
        vision_config={
            "depth": 1, "hidden_size": QWEN_VISION_HIDDEN_SIZE, "intermediate_size": 32,
            "num_heads": 2, "out_hidden_size": QWEN_TEXT_HIDDEN_SIZE,
            "fullatt_block_indexes": [0],
        },
        image_token_id=token_id("<|image_pad|>"),
        video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"),
        vision_end_token_id=token_id("<|vision_end|>"),
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def _qwen_transformer():
    from diffusers import QwenImageTransformer2DModel

    # One head of 16: the rotary axes (frame, height, width) add up to the head size.
    return QwenImageTransformer2DModel(
        patch_size=2, in_channels=QWEN_LATENT_CHANNELS * 4, out_channels=QWEN_LATENT_CHANNELS,
        num_layers=1, attention_head_dim=16, num_attention_heads=1,
        joint_attention_dim=QWEN_TEXT_HIDDEN_SIZE, axes_dims_rope=(4, 6, 6),
        zero_cond_t=True,   # as Qwen-Image-Edit-2511's transformer
    )


def _qwen_vae():
    from diffusers import AutoencoderKLQwenImage

    return AutoencoderKLQwenImage(
        base_dim=QWEN_VAE_BASE_CHANNELS, z_dim=QWEN_LATENT_CHANNELS,
        dim_mult=list(QWEN_VAE_LEVELS), num_res_blocks=QWEN_VAE_RES_BLOCKS,
        temperal_downsample=[False] * (len(QWEN_VAE_LEVELS) - 1),
        latents_mean=[0.0] * QWEN_LATENT_CHANNELS, latents_std=[1.0] * QWEN_LATENT_CHANNELS,
    )


def _qwen_scheduler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    # The pipeline passes `mu` for the picture's size, which needs dynamic shifting.
    return FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=True)


class TinyRandomSpec(ModelSpec):
    name = "tiny-random"
    licence = "none: random weights built in-process"
    commercial_use = True   # no third-party weights at all
    noise = True
    full_gpu_bytes = 0

    def load(self, weights_dir, placement, extra_dirs=None):
        pipeline = devices.apply_placement(build_tiny_flux2_klein_pipeline(), placement)
        return Flux2KleinModel(self, placement, pipeline)
