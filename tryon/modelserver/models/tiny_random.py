"""`tiny-random`: the real `Flux2KleinPipeline` with tiny, randomly initialised components
built here from configs, so that tests, CI and smoke runs go through the same diffusers code
as `flux2-klein-4b` with no download and no files. Its pictures are noise.

The weights come from a fixed seed, so two processes build the same model and the same seed
gives the same picture in both. `build_tiny_flux2_klein_pipeline()` is public so that tests can
`save_pretrained()` it into a diffusers folder that `flux2-klein-4b` loads like real weights.

The text encoder has 27 layers (of 16 numbers each) because the pipeline reads the hidden
states of layers 9, 18 and 27, as it does for the real Qwen3-4B; so the tiny model needs no
special call and `flux2-klein-4b`'s code runs unchanged on it.
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


class TinyRandomSpec(ModelSpec):
    name = "tiny-random"
    licence = "none: random weights built in-process"
    commercial_use = True   # no third-party weights at all
    noise = True
    full_gpu_bytes = 0

    def load(self, weights_dir, placement, extra_dirs=None):
        pipeline = devices.apply_placement(build_tiny_flux2_klein_pipeline(), placement)
        return Flux2KleinModel(self, placement, pipeline)
