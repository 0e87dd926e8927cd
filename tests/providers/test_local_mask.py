"""Foreground masks: alpha when real, graph cut from the border otherwise, slab as last resort."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from image2model.providers.base import ProviderError
from image2model.providers.local.image import Photo
from image2model.providers.local.mask import find_silhouette
from image2model.providers.local.matte import packaged


def on_background(shape: np.ndarray, colour: tuple[int, int, int], seed: int = 0) -> Photo:
    """`shape` (bool) painted orange on a noisy, uneven background of `colour`."""
    rng = np.random.default_rng(seed)
    height, width = shape.shape
    ramp = np.linspace(-12, 12, width)[None, :, None]
    background = np.asarray(colour, float) + ramp + rng.normal(0, 4, (height, width, 3))
    image = np.where(shape[..., None], (230, 120, 30), background)
    return Photo(np.clip(image, 0, 255).astype(np.uint8), None)


def disc(height: int, width: int, centre: tuple[int, int], radius: int) -> np.ndarray:
    canvas = np.zeros((height, width), np.uint8)
    cv2.circle(canvas, centre, radius, 1, -1)
    return canvas.astype(bool)


def iou(coverage: np.ndarray, truth: np.ndarray) -> float:
    """Overlap of a silhouette (any size, resized to the truth's) with the true shape."""
    mask = cv2.resize(coverage.astype(np.float32), truth.shape[::-1]) > 0.5
    return float((mask & truth).sum() / (mask | truth).sum())


def test_real_alpha_is_used_as_is() -> None:
    alpha = np.where(disc(120, 160, (80, 60), 40), 255, 0).astype(np.uint8)
    rgb = np.zeros((120, 160, 3), np.uint8)
    silhouette = find_silhouette(Photo(rgb, alpha))
    assert not silhouette.fallback
    assert iou(silhouette.coverage, alpha > 127) > 0.99


def test_an_alpha_channel_loses_its_specks_and_dust_but_not_its_holes() -> None:
    rng = np.random.default_rng(3)
    body = disc(200, 200, (100, 100), 60)
    cv2.circle(body.view(np.uint8), (100, 100), 20, 0, -1)  # a real hole, as in a ring
    alpha = np.where(body, 255, 0).astype(np.uint8)
    specks = rng.integers(0, 200, (40, 2))
    for y, x in specks:  # opaque specks, 1–2 px, around the frame
        alpha[y : y + 2, x : x + 2] = 255 if not body[y, x] else alpha[y, x]
    faint = (rng.random((200, 200)) < 0.02) & ~disc(200, 200, (100, 100), 66)
    alpha[faint] = 90  # semi-transparent dust away from the object
    pinholes = rng.integers(60, 140, (10, 2))
    for y, x in pinholes:
        if body[y, x] and not disc(200, 200, (100, 100), 24)[y, x]:
            alpha[y, x] = 0  # one-pixel holes in the opaque body
    silhouette = find_silhouette(Photo(np.zeros((200, 200, 3), np.uint8), alpha))
    coverage = silhouette.coverage
    assert iou(coverage, body) > 0.98
    away = ~disc(200, 200, (100, 100), 64)
    assert coverage[away].max() < 0.05, "a speck or dust survived"
    assert coverage[100, 100] < 0.05, "the real hole was filled"


def test_fully_transparent_image_has_no_object() -> None:
    photo = Photo(np.full((50, 50, 3), 200, np.uint8), np.zeros((50, 50), np.uint8))
    with pytest.raises(ProviderError) as caught:
        find_silhouette(photo)
    assert caught.value.code == "NO_OBJECT"


def test_object_on_plain_background_is_cut_out() -> None:
    shape = disc(240, 320, (150, 130), 70)
    silhouette = find_silhouette(on_background(shape, (70, 110, 160)))
    assert not silhouette.fallback
    assert iou(silhouette.coverage, shape) > 0.95


def test_a_mug_handle_stays_a_hole() -> None:
    body = np.zeros((240, 320), np.uint8)
    cv2.rectangle(body, (80, 50), (190, 200), 1, -1)
    cv2.ellipse(body, (200, 125), (50, 45), 0, 0, 360, 1, 18)
    shape = body.astype(bool)
    coverage = find_silhouette(on_background(shape, (235, 235, 230))).coverage
    assert iou(coverage, shape) > 0.93
    mask = cv2.resize(coverage, shape.shape[::-1]) > 0.5
    assert not mask[125, 215], "the handle's opening was filled in"
    assert mask[125, 240], "the handle itself is part of the object"


def test_object_touching_the_frame_keeps_that_side() -> None:
    shape = disc(200, 200, (100, 200), 80)  # cut off by the bottom edge
    coverage = find_silhouette(on_background(shape, (40, 60, 40))).coverage
    assert iou(coverage, shape) > 0.9


def test_grey_image_falls_back_to_a_rounded_slab() -> None:
    silhouette = find_silhouette(Photo(np.full((90, 120, 3), 128, np.uint8), None))
    assert silhouette.fallback
    mask = silhouette.coverage > 0.5
    assert mask.mean() > 0.8
    assert mask[45, 60] and not mask[0, 0]


@pytest.mark.parametrize("name", ["immunohistochemistry", "page"])
def test_a_picture_of_one_thing_throughout_is_kept_whole(name: str) -> None:
    """Tissue, a page: nothing differs from the border, and the matte's salient patch runs
    off the frame; the whole picture becomes the slab instead of a ragged patch of it."""
    pixels = getattr(data, name)()
    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    silhouette = find_silhouette(Photo(rgb, None), matte=packaged())
    assert silhouette.fallback


def test_a_field_of_specks_is_kept_whole_and_separate_objects_stay_parts() -> None:
    """Stars on a night sky are no object: the picture becomes the slab, not a cloud of
    specks. Coins on a table are objects, each its own part."""
    sky = find_silhouette(Photo(data.hubble_deep_field(), None), matte=packaged())
    assert sky.fallback and (sky.coverage > 0.5).mean() > 0.8

    rng = np.random.default_rng(3)
    stars = np.zeros((240, 320), bool)
    for x, y in rng.integers((10, 10), (310, 230), size=(30, 2)):
        stars |= disc(240, 320, (int(x), int(y)), 2)
    assert find_silhouette(on_background(stars, (20, 20, 30))).fallback

    coins = np.zeros((240, 320), bool)
    for x in range(40, 300, 60):
        for y in (60, 120, 180):
            coins |= disc(240, 320, (x, y), 18)
    silhouette = find_silhouette(on_background(coins, (200, 200, 195)))
    assert not silhouette.fallback
    assert iou(silhouette.coverage, coins) > 0.9


def test_a_poster_running_off_a_plain_backdrop_is_still_cut_out() -> None:
    poster = np.zeros((240, 320), bool)
    poster[:, 100:220] = True  # from the top edge to the bottom one
    silhouette = find_silhouette(on_background(poster, (200, 200, 195)), matte=packaged())
    assert not silhouette.fallback
    assert iou(silhouette.coverage, poster) > 0.95


def test_horse_silhouette_matches_the_ground_truth() -> None:
    horse = ~data.horse()
    rgb = np.where(horse[..., None], 0, 255).astype(np.uint8).repeat(3, axis=2)
    assert iou(find_silhouette(Photo(rgb, None)).coverage, horse) > 0.95


@pytest.mark.parametrize(
    ("name", "inside", "outside"),
    [
        ("coffee", (0.3, 0.5), (0.05, 0.95)),  # cup, table corner
        ("astronaut", (0.3, 0.5), (0.25, 0.1)),  # face, flag
    ],
)
def test_real_photos_separate_subject_from_surroundings(
    name: str, inside: tuple[float, float], outside: tuple[float, float]
) -> None:
    rgb = getattr(data, name)()
    mask = find_silhouette(Photo(rgb, None)).coverage > 0.5
    height, width = mask.shape
    assert mask[int(inside[0] * height), int(inside[1] * width)]
    assert not mask[int(outside[0] * height), int(outside[1] * width)]
    assert 0.1 < mask.mean() < 0.8


def test_same_seed_same_mask() -> None:
    rgb = data.chelsea()
    first = find_silhouette(Photo(rgb, None), seed=3).coverage
    second = find_silhouette(Photo(rgb, None), seed=3).coverage
    assert np.array_equal(first, second)
