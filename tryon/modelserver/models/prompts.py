"""The try-on instruction we give instruction-editing models, one wording for all of them.

Editing models (FLUX.2 [klein], Qwen-Image-Edit) take a text instruction and reference
pictures; ours always get the person as image 1 and the garment as image 2. The instruction
names the region to replace (from our `category` option), folds in the user's
`garment_description`, and asks the model to keep everything else of image 1, since these
models redraw the whole picture and drift a face, a pose or a background unless told not to.
"""

CATEGORIES = ("auto", "tops", "bottoms", "one-pieces")

# What each category replaces on the person.
GARMENT_REGIONS = {
    "tops": "the upper-body garment (the shirt, top, sweater or jacket)",
    "bottoms": "the lower-body garment (the trousers, jeans, skirt or shorts)",
    "one-pieces": "the whole outfit from the shoulders down (replaced by one dress, "
                  "jumpsuit or overall)",
    "auto": "the garment of the same kind as the one in image 2, on the part of the body "
            "where it is worn",
}

# A description longer than this is cut: it is a hint, and a long text would crowd out the
# instruction in the model's text window.
MAX_DESCRIPTION_CHARS = 300


def tryon_prompt(category="auto", garment_description=None):
    """The instruction for one try-on; ValueError for a category we do not know."""
    if category not in GARMENT_REGIONS:
        raise ValueError(f"category must be one of {', '.join(CATEGORIES)}, not {category!r}")
    garment = "the garment shown in image 2"
    description = _clean_description(garment_description)
    if description:
        garment += f" ({description})"
    return (
        f"Dress the person in image 1 in {garment}. "
        f"Replace only {GARMENT_REGIONS[category]} of the person in image 1 with this garment, "
        "keeping its colour, pattern, fabric, print and cut, fitted naturally to the body "
        "with realistic folds and shadows. "
        "Keep everything else in image 1 unchanged: the person's face and identity, hair, "
        "skin, body shape, pose and hands, any other clothing, the background, the framing "
        "and the lighting. The result is a photo of the same person in the same place."
    )


def _clean_description(text):
    """The user's description on one line, without surrounding space, at most
    MAX_DESCRIPTION_CHARS long; "" when there is none."""
    if not text:
        return ""
    one_line = " ".join(text.split())
    return one_line[:MAX_DESCRIPTION_CHARS].rstrip(" .")
