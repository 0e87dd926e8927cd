"""fal's image-to-3D endpoints, one row each: adding a model is adding a row here.

Field names, types and defaults are fal's own (its JS client's endpoint types); ranges are
given where the model's publisher documents them, else fal checks the value at submit (a
refusal there is not paid). Common options keep one name across models (`face_limit`,
`texture`, `pbr`, `seed`) and say which field of the model they are sent as; each model's
other options keep their native names.
"""

from __future__ import annotations

from image2model.providers.base import ModelSpec, OptionSpec
from image2model.providers.fal.models import (
    FACE_LIMIT,
    SEED,
    FalModel,
    face_limit_sent_as,
    sent_as,
)


def _choice(name: str, choices: tuple[str, ...], default: str, what: str = "") -> OptionSpec:
    return OptionSpec(name, "choice", default=default, choices=choices, description=what)


def _bool(name: str, default: bool, what: str = "") -> OptionSpec:
    return OptionSpec(name, "bool", default=default, description=what)


def _int(name: str, default: int | None, low: int, high: int, what: str = "") -> OptionSpec:
    return OptionSpec(name, "int", default=default, minimum=low, maximum=high, description=what)


def _float(name: str, default: float, low: float, high: float, what: str = "") -> OptionSpec:
    return OptionSpec(name, "float", default=default, minimum=low, maximum=high, description=what)


# --- Tripo -----------------------------------------------------------------------------------

_TRIPO_COMMON = (
    _bool("auto_size", False, "Scale to real-world metres"),
    _choice(
        "texture_alignment",
        ("original_image", "geometry"),
        "original_image",
        "What the texture follows: the photo or the geometry",
    ),
    _choice(
        "orientation",
        ("default", "align_image"),
        "default",
        "align_image rotates the model to match the photo",
    ),
    _bool("quad", False, "Quad mesh: Tripo sends FBX, kept as is and converted to GLB"),
    _int("texture_seed", None, 0, 2**31 - 1, "Texture seed"),
)

_TRIPO_FBX = (("quad", True),)

_TRIPO_V25_OPTIONS = (
    OptionSpec(
        "face_limit",
        "int",
        minimum=100,
        maximum=500_000,
        description="Most faces; Tripo chooses adaptively when unset",
    ),
    _choice("texture", ("no", "standard", "HD"), "standard", "Texture quality, or none"),
    _bool("pbr", False, "PBR materials"),
    SEED,
    *_TRIPO_COMMON,
)

TRIPO_V25 = FalModel(
    ModelSpec(
        id="tripo3d/tripo/v2.5/image-to-3d",
        name="Tripo v2.5 (fal)",
        description="Textured, PBR-capable models from one image",
        options=_TRIPO_V25_OPTIONS,
    ),
    ours=frozenset(),
    fbx_when=_TRIPO_FBX,
)

TRIPO_V25_MULTIVIEW = FalModel(
    ModelSpec(
        id="tripo3d/tripo/v2.5/multiview-to-3d",
        name="Tripo v2.5 multi-view (fal)",
        description="Tripo v2.5 from a front view and up to three more",
        options=_TRIPO_V25_OPTIONS,
        views=("back", "left", "right"),
    ),
    image_field="front_image_url",
    ours=frozenset(),
    fbx_when=_TRIPO_FBX,
)

_TRIPO_H31_OPTIONS = (
    OptionSpec("face_limit", "int", minimum=100, maximum=500_000, description="Most faces"),
    _bool("texture", True, "Textured model"),
    _bool("pbr", True, "PBR materials"),
    sent_as("seed", "int", "model_seed", what="Geometry seed"),
    _int("model_seed", None, 0, 2**31 - 1, "Geometry seed"),
    _choice("texture_quality", ("standard", "detailed"), "standard"),
    _choice("geometry_quality", ("standard", "detailed"), "standard"),
    *_TRIPO_COMMON,
)

TRIPO_H31 = FalModel(
    ModelSpec(
        id="tripo3d/h3.1/image-to-3d",
        name="Tripo H3.1 (fal)",
        description="Tripo's detailed-geometry model, from one image",
        options=_TRIPO_H31_OPTIONS,
    ),
    ours=frozenset(),
    fbx_when=_TRIPO_FBX,
)

TRIPO_H31_MULTIVIEW = FalModel(
    ModelSpec(
        id="tripo3d/h3.1/multiview-to-3d",
        name="Tripo H3.1 multi-view (fal)",
        description="Tripo H3.1 from a front view and up to three more",
        options=_TRIPO_H31_OPTIONS,
        # Tripo reads a list of views by position (front, left, back, right), so a list
        # without its left would have its back taken for a left: all four are sent
        views=("left", "back", "right"),
        required_views=("left", "back", "right"),
    ),
    image_field="image_urls",
    image_list=True,
    ours=frozenset(),
    fbx_when=_TRIPO_FBX,
)

TRIPO_P1 = FalModel(
    ModelSpec(
        id="tripo3d/p1/image-to-3d",
        name="Tripo P1 (fal)",
        description="Tripo's fast model, from one image",
        options=(
            OptionSpec("face_limit", "int", minimum=100, maximum=500_000, description="Most faces"),
            _bool("texture", True, "Textured model"),
            sent_as("seed", "int", "model_seed", what="Geometry seed"),
            _int("model_seed", None, 0, 2**31 - 1, "Geometry seed"),
        ),
    ),
    ours=frozenset(),
)

# --- Hunyuan3D -------------------------------------------------------------------------------

_HUNYUAN_V2_OPTIONS = (
    FACE_LIMIT,
    SEED,
    sent_as("texture", "bool", "textured_mesh", default=False, what="Textured output"),
    _bool("textured_mesh", False, "Textured output"),
    _int("num_inference_steps", 50, 1, 50),
    _float("guidance_scale", 7.5, 0, 20),
    _int("octree_resolution", 256, 1, 1024),
)


def _hunyuan_v2(path: str, name: str, description: str) -> FalModel:
    return FalModel(
        ModelSpec(
            id=f"fal-ai/hunyuan3d/v2{path}",
            name=name,
            description=description,
            options=_HUNYUAN_V2_OPTIONS,
        ),
        image_field="input_image_url",
    )


def _hunyuan_v2_multi_view(path: str, name: str) -> FalModel:
    return FalModel(
        ModelSpec(
            id=f"fal-ai/hunyuan3d/v2/multi-view{path}",
            name=name,
            description="Hunyuan3D v2 from front, back and left views",
            options=_HUNYUAN_V2_OPTIONS,
            views=("back", "left"),
            required_views=("back", "left"),
        ),
        image_field="front_image_url",
    )


HUNYUAN_V2 = _hunyuan_v2("", "Hunyuan3D v2 (fal)", "Tencent's image-to-3D model")
HUNYUAN_V2_TURBO = _hunyuan_v2("/turbo", "Hunyuan3D v2 Turbo (fal)", "Hunyuan3D v2, faster")
HUNYUAN_V2_MINI = _hunyuan_v2("/mini", "Hunyuan3D v2 Mini (fal)", "The smaller Hunyuan3D v2")
HUNYUAN_V2_MINI_TURBO = _hunyuan_v2(
    "/mini/turbo", "Hunyuan3D v2 Mini Turbo (fal)", "The smaller Hunyuan3D v2, faster"
)
HUNYUAN_V2_MULTI_VIEW = _hunyuan_v2_multi_view("", "Hunyuan3D v2 multi-view (fal)")
HUNYUAN_V2_MULTI_VIEW_TURBO = _hunyuan_v2_multi_view(
    "/turbo", "Hunyuan3D v2 multi-view Turbo (fal)"
)

# Tencent's range for face_count, the same on its own API
_HUNYUAN_FACES = (40_000, 1_500_000)
_HUNYUAN_V3_COMMON = (
    face_limit_sent_as("face_count", *_HUNYUAN_FACES),
    _int("face_count", 500_000, *_HUNYUAN_FACES, "Target face count"),
    sent_as("pbr", "bool", "enable_pbr", default=False, what="PBR materials"),
    _bool("enable_pbr", False, "PBR materials"),
)

HUNYUAN_V3 = FalModel(
    ModelSpec(
        id="fal-ai/hunyuan3d-v3/image-to-3d",
        name="Hunyuan3D v3 (fal)",
        description="Tencent's high-resolution image-to-3D model",
        options=(
            *_HUNYUAN_V3_COMMON,
            _choice(
                "generate_type",
                ("Normal", "LowPoly", "Geometry"),
                "Normal",
                "Textured, low-poly, or geometry only",
            ),
            _choice(
                "polygon_type",
                ("triangle", "quadrilateral"),
                "triangle",
                "Faces of a LowPoly model",
            ),
        ),
        views=("back", "left", "right"),
    ),
    image_field="input_image_url",
    ours=frozenset(),
    face_range=_HUNYUAN_FACES,
)

HUNYUAN_V31_PRO = FalModel(
    ModelSpec(
        id="fal-ai/hunyuan-3d/v3.1/pro/image-to-3d",
        name="Hunyuan3D v3.1 Pro (fal)",
        description="Tencent's v3.1, highest quality",
        options=(
            *_HUNYUAN_V3_COMMON,
            _choice(
                "generate_type", ("Normal", "Geometry"), "Normal", "Textured, or geometry only"
            ),
        ),
        views=("back", "left", "right", "top", "bottom", "left_front", "right_front"),
    ),
    image_field="input_image_url",
    ours=frozenset(),
    face_range=_HUNYUAN_FACES,
)

HUNYUAN_V31_RAPID = FalModel(
    ModelSpec(
        id="fal-ai/hunyuan-3d/v3.1/rapid/image-to-3d",
        name="Hunyuan3D v3.1 Rapid (fal)",
        description="Tencent's v3.1, fast",
        options=(
            FACE_LIMIT,
            sent_as("pbr", "bool", "enable_pbr", default=False, what="PBR materials"),
            _bool("enable_pbr", False, "PBR materials"),
            _bool("enable_geometry", False, "Geometry only"),
        ),
    ),
    image_field="input_image_url",
)

# --- TRELLIS ---------------------------------------------------------------------------------

_TRELLIS_OPTIONS = (
    FACE_LIMIT,
    SEED,
    _float("ss_guidance_strength", 7.5, 0, 10),
    _int("ss_sampling_steps", 12, 1, 50),
    _float("slat_guidance_strength", 3.0, 0, 10),
    _int("slat_sampling_steps", 12, 1, 50),
    _float("mesh_simplify", 0.95, 0.9, 0.98),
    _choice("texture_size", ("512", "1024", "2048"), "1024"),
)

TRELLIS = FalModel(
    ModelSpec(
        id="fal-ai/trellis",
        name="TRELLIS (fal)",
        description="Microsoft's structured-latent image-to-3D model",
        options=_TRELLIS_OPTIONS,
    ),
)

TRELLIS_MULTI = FalModel(
    ModelSpec(
        id="fal-ai/trellis/multi",
        name="TRELLIS multi-image (fal)",
        description="TRELLIS from several views of one object",
        options=(
            *_TRELLIS_OPTIONS,
            _choice("multiimage_algo", ("stochastic", "multidiffusion"), "stochastic"),
        ),
        views=("back", "left", "right", "top", "bottom", "left_front", "right_front"),
    ),
    image_field="image_urls",
    image_list=True,
)

# fal's page does not state it; TRELLIS.2's hosts document 100,000 up to 1 or 2 million
_TRELLIS_2_FACES = (100_000, 1_000_000)
TRELLIS_2 = FalModel(
    ModelSpec(
        id="fal-ai/trellis-2",
        name="TRELLIS.2 (fal)",
        description="Microsoft's TRELLIS.2 (4B): PBR textures, complex shapes",
        options=(
            face_limit_sent_as("decimation_target", *_TRELLIS_2_FACES),
            _int("decimation_target", 500_000, *_TRELLIS_2_FACES, "Target face count"),
            SEED,
            _choice("resolution", ("512", "1024", "1536"), "1024", "Voxel grid resolution"),
            _choice("texture_size", ("1024", "2048", "4096"), "2048"),
            _bool("remesh", True, "Remesh for cleaner topology"),
            _int("ss_sampling_steps", 12, 1, 50),
            _int("shape_slat_sampling_steps", 12, 1, 50),
            _int("tex_slat_sampling_steps", 12, 1, 50),
        ),
    ),
    ours=frozenset(),
    face_range=_TRELLIS_2_FACES,
)

TRIPOSR = FalModel(
    ModelSpec(
        id="fal-ai/triposr",
        name="TripoSR (fal)",
        description="Fast untextured reconstruction",
        options=(
            FACE_LIMIT,
            _choice("output_format", ("glb", "obj"), "glb"),
            _bool("do_remove_background", True),
            _float("foreground_ratio", 0.9, 0.5, 1.0),
            _int("mc_resolution", 256, 32, 1024),
        ),
    ),
)

# --- Rodin, Meshy ----------------------------------------------------------------------------

RODIN_V25 = FalModel(
    ModelSpec(
        id="fal-ai/hyper3d/rodin/v2.5",
        name="Hyper3D Rodin Gen-2.5 (fal)",
        description="Hyper3D's Rodin, from one image or up to five views",
        options=(
            FACE_LIMIT,
            SEED,
            _choice(
                "tier",
                (
                    "Gen-2.5-Minimum",
                    "Gen-2.5-Extreme-Low",
                    "Gen-2.5-Low",
                    "Gen-2.5-Medium",
                    "Gen-2.5-High",
                    "Gen-2.5-Extreme-High",
                ),
                "Gen-2.5-High",
                "Quality tier",
            ),
            _choice("material", ("PBR", "Shaded", "All", "None"), "All", "Materials made"),
            _choice(
                "geometry_file_format",
                ("glb", "obj", "stl", "fbx"),
                "glb",
                "Model file format (FBX is kept as is and converted to GLB)",
            ),
            _bool("hd_texture", False, "High-resolution texture"),
            _bool("TAPose", False, "T/A pose for humanoids"),
            _bool("use_original_alpha", False, "Keep the image's transparency as the mask"),
            OptionSpec("prompt", "str", default="", description="Text to guide the model"),
        ),
        views=("back", "left", "right", "top"),  # fal: up to 5 images
    ),
    image_field="image_urls",
    image_list=True,
    fbx_when=(("geometry_file_format", "fbx"),),
)

_MESHY_FACES = (100, 300_000)
_MESHY_OPTIONS = (
    face_limit_sent_as("target_polycount", *_MESHY_FACES),
    _int("target_polycount", 30_000, *_MESHY_FACES, "Target polygon count"),
    sent_as("texture", "bool", "should_texture", default=True, what="Textured model"),
    _bool("should_texture", True, "Textured model"),
    sent_as("pbr", "bool", "enable_pbr", default=False, what="PBR materials"),
    _bool("enable_pbr", False, "PBR materials"),
    _choice("topology", ("triangle", "quad"), "triangle"),
    _choice("symmetry_mode", ("off", "auto", "on"), "auto"),
    _bool("should_remesh", True, "Remesh to target_polycount"),
    OptionSpec("texture_prompt", "str", description="Text to guide the texture"),
)

MESHY_V6 = FalModel(
    ModelSpec(
        id="fal-ai/meshy/v6/image-to-3d",
        name="Meshy 6 (fal)",
        description="Meshy's v6, from one image",
        options=(*_MESHY_OPTIONS, _choice("model_type", ("standard", "lowpoly"), "standard")),
    ),
    ours=frozenset(),
    face_range=_MESHY_FACES,
)

MESHY_V6_MULTI = FalModel(
    ModelSpec(
        id="fal-ai/meshy/v6/multi-image-to-3d",
        name="Meshy 6 multi-image (fal)",
        description="Meshy's v6 from up to four views of one object",
        options=_MESHY_OPTIONS,
        views=("back", "left", "right"),
    ),
    image_field="image_urls",
    image_list=True,
    ours=frozenset(),
    face_range=_MESHY_FACES,
)

KNOWN: tuple[FalModel, ...] = (
    TRIPO_V25,
    TRIPO_V25_MULTIVIEW,
    TRIPO_H31,
    TRIPO_H31_MULTIVIEW,
    TRIPO_P1,
    HUNYUAN_V2,
    HUNYUAN_V2_TURBO,
    HUNYUAN_V2_MINI,
    HUNYUAN_V2_MINI_TURBO,
    HUNYUAN_V2_MULTI_VIEW,
    HUNYUAN_V2_MULTI_VIEW_TURBO,
    HUNYUAN_V3,
    HUNYUAN_V31_PRO,
    HUNYUAN_V31_RAPID,
    TRELLIS,
    TRELLIS_MULTI,
    TRELLIS_2,
    TRIPOSR,
    RODIN_V25,
    MESHY_V6,
    MESHY_V6_MULTI,
)
