"""What to do with the clothing the person already wears, where the new garment leaves it showing.

No garment matches the old clothing's outline. Where the old clothing shows just beside
the new garment's torso (a strip at the shoulders, under the hem) the new garment's
colours reach over it, as a slightly looser cut would. What still shows of it in the
upper body (an old T-shirt's sleeves under a vest or past shorter new sleeves, strips
between arm and torso) no garment would cover: it is painted over with what lies
around it, arm skin on the upper arm and elsewhere whatever OpenCV's inpainting draws
from the surroundings (background, skin). Both run at about 70
pixels per shoulder width: they only need coarse shapes, and inpainting is costly.

Left alone: the forearms, the whole arm where the person wears long sleeves (they show
below a short new sleeve, as a shirt worn under a T-shirt would), everything below the
new garment's hem, and the neck (an old collar higher than the new neckline shows).
"""

from __future__ import annotations

import cv2
import numpy as np

from .imaging import ellipse_kernel, fill_from_nearest
from .placement import Placement

WORK_SHOULDER_PIXELS = 70.0  # resolution of this stage, in pixels per shoulder width
REMNANT_REACH = 0.1  # old clothing this close to the garment (shoulder widths) gets covered
INPAINT_RADIUS = 2  # pixels at half the stage's resolution
ARM_BAND = 2.6  # width of the band along an arm, in arm half widths (a little wider than the arm)
BARE_ARM_BAND = 1.4  # the bare upper arm inside an old sleeve that stood off it, in the same units
FOREARM_BAND = 1.2  # a forearm is narrower than the upper arm
MIN_LEFTOVER_PIXELS = 4
# fewer covered person pixels than this: no idea what the old clothing looks like
MIN_OLD_PIXELS = 50


class OldClothing:
    """The old clothing's look and where it is, at the stage's reduced resolution.

    Built from the photo's region under the garment's box, the person mask, the part of the
    person in front of the garment and the layer's alpha so far (all box-sized).
    """

    def __init__(self, region, body, in_front, alpha, placement: Placement, box, skin_lab):
        self.placement, self.box = placement, box
        self.shoulder_width = placement.shoulder_width
        self.factor = min(1.0, WORK_SHOULDER_PIXELS / self.shoulder_width)
        height, width = alpha.shape
        self.full_size = (width, height)
        self.size = (max(1, round(width * self.factor)), max(1, round(height * self.factor)))
        self.region = self.small(region)
        self.alpha = self.small_mask(alpha)
        self.lab = cv2.cvtColor(self.region, cv2.COLOR_BGR2LAB).astype(np.float32)
        on_person = self.small_mask(body) > 0.5
        self.person_there = on_person & (self.small_mask(in_front) < 0.3)
        covered_person = (self.alpha > 0.5) & self.person_there
        self.known = np.count_nonzero(covered_person) >= MIN_OLD_PIXELS
        self.looks_old = np.zeros(self.alpha.shape, bool)
        self.skin = np.zeros(self.alpha.shape, bool)
        if skin_lab is not None:
            self.skin = skin_like(self.lab, skin_lab) & on_person
        if self.known:
            self.looks_old = (
                looks_like(self.lab, self.lab[covered_person]) & self.person_there & ~self.skin
            )

    def small(self, image):
        return cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)

    def small_mask(self, mask):
        """Masks are smooth (feathered or blurred): linear resampling is enough, and cheaper."""
        return cv2.resize(mask, self.size, interpolation=cv2.INTER_LINEAR)

    def full(self, image):
        return cv2.resize(image, self.full_size, interpolation=cv2.INTER_LINEAR)

    def cover_beside(self, warped: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Extend the garment's colours over old clothing just beside its torso (not along
        the arms)."""
        if not self.known:
            return warped, alpha
        covered = self.alpha > 0.5
        reach = ellipse_kernel(2 * REMNANT_REACH * self.shoulder_width * self.factor)
        near = cv2.dilate(covered.astype(np.uint8), reach) > 0
        candidates = near & ~covered & self.looks_old & ~self.arms_past_sleeves()
        candidates = cv2.morphologyEx(
            candidates.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)
        )
        if not candidates.any():
            return warped, alpha
        colours = self.full(fill_from_nearest(self.small(warped), self.alpha > 0.9))
        fill_alpha = self.full(cv2.GaussianBlur(candidates.astype(np.float32), (0, 0), 1.0))
        # Inside the garment keep its own pixels; towards its edge hand over to the fill colours.
        trust = np.clip(alpha * 1.2, 0, 1)
        warped = cv2.blendLinear(warped, colours, trust, 1.0 - trust)
        return warped, np.maximum(alpha, fill_alpha)

    def replace_leftovers(
        self, image: np.ndarray, alpha: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Paint over old clothing the finished layer leaves showing, from its surroundings.

        image and alpha are the finished layer (box-sized); the returned layer also carries
        the painted pixels. Only the upper body counts: below the neck, above the new hem,
        and not the forearms (nor the arm of an old long sleeve, which stays as a layer
        under a short new sleeve). On the upper arm the fill is the colour of the nearest
        bare skin; elsewhere (the old clothing standing off the body, gaps between arm and
        torso) it is inpainted. The inpainting mask holds all of the old clothing, covered
        or not, so the fill is drawn from skin and background only, never from old clothing.
        """
        if not self.known:
            return image, alpha
        covered = self.small_mask(alpha) > 0.5
        leftover = self.looks_old & ~covered & self._upper_body()
        leftover = (
            cv2.morphologyEx(leftover.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
            > 0
        )
        if np.count_nonzero(leftover) < MIN_LEFTOVER_PIXELS:
            return image, alpha
        source = cv2.dilate((self.looks_old | covered).astype(np.uint8), np.ones((3, 3), np.uint8))
        filled = _inpaint_coarsely(self.region, source)
        bare_skin = self.skin & (source == 0)
        if np.count_nonzero(bare_skin) >= MIN_OLD_PIXELS:
            on_arm = leftover & self._arm_bands(BARE_ARM_BAND, cuffs=False, to_wrist=False)
            filled[on_arm] = cv2.GaussianBlur(
                fill_from_nearest(self.region, bare_skin), (0, 0), 1.5
            )[on_arm]
        grown = cv2.dilate(leftover.astype(np.uint8), np.ones((5, 5), np.uint8))
        # Blend only over the painted pixels' bounding box: they are usually a small part of it.
        x, y, w, h = cv2.boundingRect(grown)
        window = self._full_window(x, y, w, h)
        fill_alpha = np.zeros_like(alpha)
        soft = np.clip(
            self.full(cv2.GaussianBlur(grown.astype(np.float32), (0, 0), 0.8))[window], 0, 1
        )
        fill_alpha[window] = soft * (1.0 - alpha[window])
        image = image.copy()
        image[window] = cv2.blendLinear(
            image[window], self.full(filled)[window], alpha[window] + 1e-4, fill_alpha[window]
        )
        return image, alpha + fill_alpha

    def _full_window(self, x: int, y: int, w: int, h: int) -> tuple[slice, slice]:
        """A box of small-stage pixels as slices of the full box, a pixel larger all round."""
        width, height = self.full_size
        x0, y0 = max(0, int((x - 1) / self.factor)), max(0, int((y - 1) / self.factor))
        x1, y1 = (
            min(width, int(np.ceil((x + w + 1) / self.factor))),
            min(height, int(np.ceil((y + h + 1) / self.factor))),
        )
        return slice(y0, y1), slice(x0, x1)

    def _upper_body(self) -> np.ndarray:
        """From the neck's base (the face and neck are in front anyway) to the new garment's hem,
        off the forearms (small-box pixels)."""
        placement = self.placement
        width, height = self.size
        xs = self.box[0] + (np.arange(width, dtype=np.float32) + 0.5) / self.factor
        ys = self.box[1] + (np.arange(height, dtype=np.float32) + 0.5) / self.factor
        depth = (xs[None, :] - placement.neck_base[0]) * placement.down[0] + (
            ys[:, None] - placement.neck_base[1]
        ) * placement.down[1]
        hem = max(
            float(np.dot(p - placement.neck_base, placement.down))
            for p in placement.body.person_points
        )
        zone = (depth > -0.1 * self.shoulder_width) & (depth < hem)
        zone &= ~self._arm_bands(FOREARM_BAND, cuffs=False, to_wrist=True, from_elbow=True)
        zone &= ~self._arm_bands(ARM_BAND, cuffs=True, to_wrist=True, only=self._long_old_sleeves())
        return zone

    def _long_old_sleeves(self) -> list:
        """The arms whose forearm is mostly the old clothing's colour: the person wears long
        sleeves."""
        arms = []
        for arm in self.placement.arms or ():
            band = self._arm_bands(
                FOREARM_BAND, cuffs=False, to_wrist=False, from_elbow=True, only=[arm]
            )
            band &= self.person_there
            if np.count_nonzero(band) >= 10 and np.mean(self.looks_old[band]) > 0.5:
                arms.append(arm)
        return arms

    def arms_past_sleeves(self) -> np.ndarray:
        """The arms from each sleeve's cuff on (the whole arm where the garment has no sleeve)."""
        return self._arm_bands(ARM_BAND, cuffs=True, to_wrist=True)

    def _arm_bands(
        self,
        width_in_halves: float,
        cuffs: bool,
        to_wrist: bool,
        from_elbow: bool = False,
        only=None,
    ) -> np.ndarray:
        """Bands along the arms (small-box pixels), width_in_halves arm half widths wide.

        Each starts at the shoulder joint, the elbow (from_elbow) or the sleeve's cuff (cuffs)
        and ends at the elbow or, with to_wrist, a little past the wrist, where the hand is.
        """
        width, height = self.size
        bands = np.zeros((height, width), np.uint8)
        cuff_reach = {id(s.arm): s.cuff_reach for s in self.placement.sleeves if s.arm is not None}
        for arm in self.placement.arms or ():
            if only is not None and all(arm is not chosen for chosen in only):
                continue
            start = cuff_reach.get(id(arm), 0.0) if cuffs else 0.0
            if from_elbow:
                start = max(start, arm.upper_length)
            end = (
                arm.length + 0.5 * float(np.linalg.norm(arm.wrist - arm.elbow))
                if to_wrist
                else arm.upper_length
            )
            if start >= end:
                continue
            path = (
                [arm.point_at(start)]
                + ([arm.elbow] if start < arm.upper_length < end else [])
                + [arm.point_at(end)]
            )
            pixels = [
                ((np.asarray(p) - self.box[:2]) * self.factor).round().astype(np.int32)
                for p in path
            ]
            thickness = max(1, int(round(width_in_halves * arm.half_width * self.factor)))
            cv2.polylines(bands, [np.array(pixels)], False, 1, thickness)
        return bands > 0


def _inpaint_coarsely(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """cv2.inpaint at half the stage's resolution: the fill is smooth anyway, and inpainting
    costs in proportion to the pixels it fills."""
    height, width = mask.shape
    half = (max(1, width // 2), max(1, height // 2))
    small_mask = (cv2.resize(mask, half, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    small = cv2.inpaint(
        cv2.resize(image, half, interpolation=cv2.INTER_AREA),
        small_mask,
        INPAINT_RADIUS,
        cv2.INPAINT_TELEA,
    )
    return np.where(
        mask[..., None] > 0,
        cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR),
        image,
    )


def looks_like(lab: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Pixels whose colour is close to the typical colour of the samples (Lab, float)."""
    typical = np.median(samples, axis=0)
    chroma = float(np.hypot(typical[1] - 128, typical[2] - 128))
    colour_gap = np.hypot(lab[..., 1] - typical[1], lab[..., 2] - typical[2])
    return (colour_gap < max(16.0, 0.45 * chroma)) & (np.abs(lab[..., 0] - typical[0]) < 70)


def skin_like(lab: np.ndarray, skin_lab: np.ndarray, chroma_tolerance: float = 9.0) -> np.ndarray:
    """Pixels of about the colour of the person's own skin (Lab, float)."""
    colour_gap = np.hypot(lab[..., 1] - skin_lab[1], lab[..., 2] - skin_lab[2])
    return (colour_gap < chroma_tolerance) & (np.abs(lab[..., 0] - skin_lab[0]) < 60)
