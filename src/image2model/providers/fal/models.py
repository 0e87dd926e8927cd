"""The fal models we know: their options, their image field, and which options go to fal."""

from __future__ import annotations

from dataclasses import dataclass

from image2model.providers.base import ModelSpec, OptionSpec

TRIPO = "tripo3d/tripo/v2.5/image-to-3d"
HUNYUAN = "fal-ai/hunyuan3d/v2"
TRELLIS = "fal-ai/trellis"
TRIPOSR = "fal-ai/triposr"

MODEL_OUTPUTS = ("pbr_model", "model_mesh", "model_glb", "base_model")
"""Output fields that hold the model, best first (base_model is Tripo's untextured mesh)."""
PREVIEW_OUTPUTS = ("rendered_image", "thumbnail")


@dataclass(frozen=True)
class FalModel:
    """A fal endpoint: what we list, where the image goes, which options fal receives."""

    spec: ModelSpec
    image_field: str = "image_url"
    sent: frozenset[str] = frozenset()
    """Options passed to fal as they are; the others (face_limit on most) are ours to apply."""

    @property
    def endpoint(self) -> str:
        return self.spec.id


SEED = OptionSpec("seed", "int", minimum=0, maximum=2**31 - 1, description="Random seed")
FACE_LIMIT = OptionSpec(
    "face_limit",
    "int",
    minimum=100,
    maximum=500_000,
    description="Most triangles the model may have (decimated after generation)",
)

_TRIPO = FalModel(
    ModelSpec(
        id=TRIPO,
        name="Tripo v2.5 (fal)",
        description="Textured, PBR-capable models from one image",
        options=(
            OptionSpec(
                "face_limit",
                "int",
                minimum=100,
                maximum=500_000,
                description="Most faces; Tripo chooses adaptively when unset",
            ),
            OptionSpec(
                "texture",
                "choice",
                default="standard",
                choices=("no", "standard", "HD"),
                description="Texture quality, or no texture",
            ),
            OptionSpec("pbr", "bool", default=False, description="PBR materials"),
            SEED,
            OptionSpec(
                "texture_seed", "int", minimum=0, maximum=2**31 - 1, description="Texture seed"
            ),
            OptionSpec(
                "auto_size", "bool", default=False, description="Scale to real-world metres"
            ),
            OptionSpec(
                "quad",
                "bool",
                default=False,
                description="Quad mesh output (FBX); not supported by this service",
                refused=(
                    (
                        True,
                        "Tripo returns quad meshes as FBX, which this service cannot convert "
                        "to GLB/OBJ/STL/PLY; leave quad off",
                    ),
                ),
            ),
            OptionSpec(
                "texture_alignment",
                "choice",
                default="original_image",
                choices=("original_image", "geometry"),
                description="What the texture follows: the photo or the geometry",
            ),
            OptionSpec(
                "orientation",
                "choice",
                default="default",
                choices=("default", "align_image"),
                description="align_image rotates the model to match the photo",
            ),
        ),
    ),
    sent=frozenset(
        {
            "face_limit",
            "texture",
            "pbr",
            "seed",
            "texture_seed",
            "auto_size",
            "quad",
            "texture_alignment",
            "orientation",
        }
    ),
)

_HUNYUAN = FalModel(
    ModelSpec(
        id=HUNYUAN,
        name="Hunyuan3D v2 (fal)",
        description="Tencent's image-to-3D model",
        options=(
            FACE_LIMIT,
            SEED,
            OptionSpec("num_inference_steps", "int", default=50, minimum=1, maximum=50),
            OptionSpec("guidance_scale", "float", default=7.5, minimum=0, maximum=20),
            OptionSpec("octree_resolution", "int", default=256, minimum=1, maximum=1024),
            OptionSpec("textured_mesh", "bool", default=False, description="Textured output"),
        ),
    ),
    image_field="input_image_url",
    sent=frozenset(
        {"seed", "num_inference_steps", "guidance_scale", "octree_resolution", "textured_mesh"}
    ),
)

_TRELLIS = FalModel(
    ModelSpec(
        id=TRELLIS,
        name="TRELLIS (fal)",
        description="Microsoft's structured-latent image-to-3D model",
        options=(
            FACE_LIMIT,
            SEED,
            OptionSpec("ss_guidance_strength", "float", default=7.5, minimum=0, maximum=10),
            OptionSpec("ss_sampling_steps", "int", default=12, minimum=1, maximum=50),
            OptionSpec("slat_guidance_strength", "float", default=3.0, minimum=0, maximum=10),
            OptionSpec("slat_sampling_steps", "int", default=12, minimum=1, maximum=50),
            OptionSpec("mesh_simplify", "float", default=0.95, minimum=0.9, maximum=0.98),
            OptionSpec("texture_size", "choice", default="1024", choices=("512", "1024", "2048")),
        ),
    ),
    sent=frozenset(
        {
            "seed",
            "ss_guidance_strength",
            "ss_sampling_steps",
            "slat_guidance_strength",
            "slat_sampling_steps",
            "mesh_simplify",
            "texture_size",
        }
    ),
)

_TRIPOSR = FalModel(
    ModelSpec(
        id=TRIPOSR,
        name="TripoSR (fal)",
        description="Fast untextured reconstruction",
        options=(
            FACE_LIMIT,
            OptionSpec("output_format", "choice", default="glb", choices=("glb", "obj")),
            OptionSpec("do_remove_background", "bool", default=True),
            OptionSpec("foreground_ratio", "float", default=0.9, minimum=0.5, maximum=1.0),
            OptionSpec("mc_resolution", "int", default=256, minimum=32, maximum=1024),
        ),
    ),
    sent=frozenset({"output_format", "do_remove_background", "foreground_ratio", "mc_resolution"}),
)

KNOWN = (_TRIPO, _HUNYUAN, _TRELLIS, _TRIPOSR)


def catalogue(default_endpoint: str) -> tuple[FalModel, ...]:
    """Known models with `default_endpoint` first; an unknown endpoint is offered as it is."""
    default = next((m for m in KNOWN if m.endpoint == default_endpoint), None)
    if default is None:
        default = FalModel(
            ModelSpec(
                id=default_endpoint,
                name=f"{default_endpoint} (fal)",
                description="Set by FAL_MODEL_ENDPOINT; receives image_url and seed",
                options=(FACE_LIMIT, SEED),
            ),
            sent=frozenset({"seed"}),
        )
    return (default, *(m for m in KNOWN if m is not default))


def wire_value(spec: OptionSpec, value: object) -> object:
    """The JSON value fal expects: numeric choices (texture_size) travel as numbers."""
    if spec.kind == "choice" and isinstance(value, str) and value.isdigit():
        return int(value)
    return value
