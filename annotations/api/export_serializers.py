"""The options of an export and of an import, one definition each: the API views validate with
them and derive their OpenAPI parameters from them, and the commands `export_project` and
`import_annotations` validate the same way (`export_options`, `import_options`).

A refusal names the field and what it takes ("split must be one of train, validation, got
'test'"): the words the API and the commands have always answered with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from annotations.exports import WHOLE_IMAGES, ExportOptions
from annotations.formats import EXPORT_FORMATS, geojson
from annotations.formats.filters import EDITOR_SOURCE, ExportFilters
from annotations.formats.instances import OverlapRule
from annotations.imports import IMPORT_FORMATS, ImportMode, ImportOptions
from annotations.models import ReviewState, Split
from labelserver.errors import DomainError

FILTER_FIELDS = ("split", "tag", "since", "until", "reviewed", "source", "review_state", "current_only")


class OptionsError(DomainError):
    """Refused options: the first problem is the message (the API's `detail`), `fields` has them all."""

    def __init__(self, message: str, *, code: str, fields: dict[str, list[str]]) -> None:
        super().__init__(message, code=code)
        self.fields = fields


# --- Fields -----------------------------------------------------------------------------------
# Each validates by hand (run_validation) so that an empty value, missing, None (a command option
# not given) or "" (`?images=`), means the default, and a refusal names the field.


def _text_of(data: Any) -> str:
    """The value as stripped text; "" when it is missing or None."""
    return "" if data is empty or data is None else str(data).strip()


class Choice(serializers.ChoiceField):
    """One of a few words; `lower` accepts any case (the import options always have)."""

    def __init__(self, choices: Sequence[str], *, lower: bool = False, **kwargs: Any) -> None:
        self.lower = lower
        super().__init__(choices=list(choices), **kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        text = _text_of(data).lower() if self.lower else _text_of(data)
        if not text:
            if self.required:
                self._refuse(None)
            return self.get_default()
        if text not in self.choices:
            self._refuse(text)
        return text

    def _refuse(self, value: str | None) -> None:
        raise serializers.ValidationError(
            f"{self.field_name} must be one of {', '.join(self.choices)}, got {value!r}", code="invalid_choice")


class Flag(serializers.BooleanField):
    """true/false, 1/0, yes/no, on/off in any case."""

    def run_validation(self, data: Any = empty) -> Any:
        if not _text_of(data):
            return self.get_default()
        word = data if isinstance(data, bool) else _text_of(data).lower()
        if word in self.TRUE_VALUES:
            return True
        if word in self.FALSE_VALUES:
            return False
        raise serializers.ValidationError(f"{self.field_name} must be true or false, got {data!r}", code="invalid")


class Moment(serializers.CharField):
    """A date or a date and time. A date alone means the day's start, or its end with `end_of_day`
    (so ``until=2025-03-01`` takes all of March 1st); a time without a zone is the server's."""

    def __init__(self, *, end_of_day: bool = False, **kwargs: Any) -> None:
        self.end_of_day = end_of_day
        super().__init__(required=False, allow_blank=True, default=None, **kwargs)

    def run_validation(self, data: Any = empty) -> datetime | None:
        text = _text_of(data)
        if not text:
            return None
        moment = _parse_moment(text, self.end_of_day)
        if moment is None:
            raise serializers.ValidationError(f"{self.field_name} must be a date (2025-03-01) or a date and time "
                                              f"(2025-03-01T14:30), got {text!r}", code="invalid")
        return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _parse_moment(text: str, end_of_day: bool) -> datetime | None:
    try:
        moment = parse_datetime(text)
        day = None if moment else parse_date(text)
    except ValueError:
        return None
    if moment is None and isinstance(day, date):
        moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time.min)
        if end_of_day:
            moment -= timedelta(microseconds=1)
    return moment


class Pixels(serializers.FloatField):
    """A number of pixels from `low` to `high`."""

    def __init__(self, *, low: float, high: float, **kwargs: Any) -> None:
        self.bounds = (low, high)
        super().__init__(min_value=low, max_value=high, **kwargs)  # for the schema

    def run_validation(self, data: Any = empty) -> Any:
        if not _text_of(data):
            return self.get_default()
        try:
            value = float(data)
        except (TypeError, ValueError):
            raise serializers.ValidationError(f"{self.field_name} must be a number of pixels, got {data!r}",
                                              code="invalid") from None
        low, high = self.bounds
        if not low <= value <= high:
            raise serializers.ValidationError(f"{self.field_name} must lie between {low:g} and {high:g} pixels, "
                                              f"got {value:g}", code="invalid")
        return value


def _text(**kwargs: Any) -> serializers.CharField:
    """An optional free text; empty means none."""
    return serializers.CharField(required=False, allow_blank=True, default="", **kwargs)


def _names(text: str, *, lower: bool = False) -> list[str]:
    """The names of a comma-separated list, stripped."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return [n.lower() for n in names] if lower else names


# --- Export -----------------------------------------------------------------------------------

_FORMAT_NAME = "(" + "|".join(EXPORT_FORMATS) + ")"


# The schema states the forms that work: an empty `format` is refused unless `model` names a
# version, which the schema cannot say per value, so it leaves `format` out instead.
class _OptionalText(serializers.CharField):
    """Text whose empty value means "not given" (None), without `allow_blank`: the schema then
    describes only the values that mean something."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, default=None, **kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        return super().run_validation(data) if _text_of(data) else None


@extend_schema_field({"type": "string", "pattern": f"^ *{_FORMAT_NAME}( *, *{_FORMAT_NAME})* *$"})
class FormatNames(_OptionalText):
    """Comma-separated export format names (validated by ExportOptionsSerializer.validate_format)."""


_REVIEW_STATE = "(" + "|".join(ReviewState.values) + ")"


@extend_schema_field({"type": "string", "pattern": f"^ *{_REVIEW_STATE}( *, *{_REVIEW_STATE})* *$"})
class ReviewStates(_OptionalText):
    """Comma-separated review states (validated by ExportOptionsSerializer.validate_review_state)."""


@extend_schema_field({"type": "string", "pattern": "^ *(active|[0-9]+) *$"})
class ModelChoice(_OptionalText):
    """'active' or a version number (validated by ExportOptionsSerializer.validate_model)."""


class ExportOptionsSerializer(serializers.Serializer):
    """The export's query parameters (GET /api/projects/{id}/export/) and `export_project`'s options."""

    # The stubs type Field.format and Field.source (attributes of a field itself): a field of either
    # name is still fine, the metaclass takes declared fields off the class (type: ignore below).
    format = FormatNames(help_text="comma-separated: " + ", ".join(EXPORT_FORMATS) +  # type: ignore[assignment]
                         "; leave it out to export only a model (`model`). One of the two is needed.")
    model = ModelChoice(help_text="'active' or a version number: add its weights and model card")
    split = Choice(Split.values, required=False, default=None, help_text="train or validation")
    tag = _text(help_text="only crops with this tag")
    since = Moment(help_text="annotations saved on or after (date or date-time)")
    until = Moment(end_of_day=True, help_text="annotations saved on or before (a date means the whole day)")
    current_only = Flag(default=True, help_text="current versions only (default); false: newest in range")
    reviewed = Flag(default=False, help_text="only annotations saved in the labelling tool")
    source = _text(  # type: ignore[assignment]
        help_text="comma-separated annotation sources: editor, import, simulation")
    review_state = ReviewStates(
        help_text="comma-separated review states: " + ", ".join(ReviewState.values) + " (default: any)")
    whole_images = Choice(WHOLE_IMAGES, default="complete",
                          help_text="complete (default) or any: also partly labelled images")
    images = Flag(default=True, help_text="copy the original images into the zip (default true)")
    image_format = Choice(("tif", "png"), default="tif", help_text="Cellpose pairs as tif (default) or png")
    object_type = Choice(geojson.OBJECT_TYPES, default="detection",
                         help_text="GeoJSON objectType: detection (default) or annotation")
    tolerance = Pixels(default=0.0, low=0.0, high=10.0,
                       help_text="GeoJSON outline simplification in pixels (default 0: exact)")

    def to_internal_value(self, data: Any) -> Any:
        # `formats` has always been read as `format`, and `.png` as `png`.
        data = dict(data)
        data["format"] = data.get("format") or data.get("formats") or ""
        data["image_format"] = str(data.get("image_format") or "").lstrip(".")
        return super().to_internal_value(data)

    def validate_format(self, value: str | None) -> tuple[str, ...]:
        names = _names(value or "", lower=True)
        unknown = [n for n in names if n not in EXPORT_FORMATS]
        if unknown:
            raise serializers.ValidationError(
                f"unknown export format {unknown[0]!r}; choose from {', '.join(EXPORT_FORMATS)}")
        return tuple(dict.fromkeys(names))

    def validate_review_state(self, value: str | None) -> tuple[str, ...]:
        names = _names(value or "", lower=True)
        unknown = [n for n in names if n not in ReviewState.values]
        if unknown:
            raise serializers.ValidationError(
                f"unknown review state {unknown[0]!r}; choose from {', '.join(ReviewState.values)}")
        return tuple(dict.fromkeys(names))

    def validate_model(self, value: str | None) -> str | None:
        # Which version it is, the learning part finds out (active_learning.model_transfer).
        spec = value or None  # CharField has stripped it
        if spec is not None and spec != "active" and not spec.isdigit():
            raise serializers.ValidationError(f"model must be 'active' or a version number, got {spec!r}")
        return spec

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["format"] and attrs["model"] is None:
            raise serializers.ValidationError(
                {"format": f"name at least one format ({', '.join(EXPORT_FORMATS)}) or a model version"})
        attrs["source"] = _sources(attrs["source"], attrs["reviewed"])
        since, until = attrs["since"], attrs["until"]
        if since and until and since > until:
            raise serializers.ValidationError({"until": f"since ({since.isoformat()}) is after until "
                                                        f"({until.isoformat()})"})
        return attrs


def _sources(text: str, reviewed: bool) -> tuple[str, ...]:
    sources = _names(text)
    if reviewed:
        if sources and EDITOR_SOURCE not in sources:
            raise serializers.ValidationError({"source": f"reviewed=true takes annotations of source "
                                                         f"{EDITOR_SOURCE!r}; source asks for {sources}"})
        sources = [EDITOR_SOURCE]
    return tuple(sources)


def export_options(params: Mapping[str, Any]) -> ExportOptions:
    """Options from query parameters or command options; refuses bad values by name (OptionsError)."""
    data = _validated(ExportOptionsSerializer, params,
                      lambda field: "bad_filter" if field in FILTER_FIELDS else "bad_export")
    filters = ExportFilters(split=data["split"], tag=data["tag"] or None, since=data["since"], until=data["until"],
                            sources=data["source"], review_states=data["review_state"],
                            current_only=data["current_only"])
    return ExportOptions(
        formats=data["format"], filters=filters, model=data["model"], include_images=data["images"],
        image_extension=f".{data['image_format']}", whole_images=data["whole_images"],
        geojson_object_type=data["object_type"], geojson_tolerance=data["tolerance"],
    )


# --- Import -----------------------------------------------------------------------------------


class ImportOptionsSerializer(serializers.Serializer):
    """How to read an import bundle (POST /api/projects/{id}/import/, `import_annotations`)."""

    format = Choice(IMPORT_FORMATS, lower=True, help_text="the bundle's format")
    mode = Choice([m.value for m in ImportMode], lower=True, default=ImportMode.LABELS.value,
                  help_text="labels (default): annotations; predictions: a model version's masks to correct")
    overlap = Choice([r.value for r in OverlapRule], lower=True, default=OverlapRule.SMALLER_WINS.value,
                     help_text="overlapping objects: smaller_wins (default) or reject")
    object_type = _text(help_text="GeoJSON: only features of this objectType")


class ImportInput(ImportOptionsSerializer):
    """The upload: the bundle and its options."""

    file = serializers.FileField(help_text="a zip of a folder, or one COCO .json / GeoJSON file")


def to_import_options(data: Mapping[str, Any]) -> ImportOptions:
    """ImportOptions from an ImportOptionsSerializer's validated data."""
    return ImportOptions(format=data["format"], mode=ImportMode(data["mode"]), overlap=OverlapRule(data["overlap"]),
                         object_type=data["object_type"] or None)


def import_options(params: Mapping[str, Any]) -> ImportOptions:
    """Options from command options (or any mapping); refuses bad values by name (OptionsError)."""
    return to_import_options(_validated(ImportOptionsSerializer, params, lambda field: "bad_import"))


# --- Refusals ---------------------------------------------------------------------------------


def _validated(serializer_class: type[serializers.Serializer], params: Mapping[str, Any],
               code: Callable[[str], str]) -> dict[str, Any]:
    """Validated data, or an OptionsError whose code `code(field)` gives for the first bad field."""
    # A plain dict of the last value per key: DRF reads a missing boolean in a QueryDict as an
    # unticked HTML checkbox (false), which would turn `images` and `current_only` off. None is
    # an option the command was not given.
    serializer = serializer_class(data={k: v for k, v in params.items() if v is not None})
    if serializer.is_valid():
        return dict(serializer.validated_data)
    fields = {name: [str(m) for m in messages] for name, messages in serializer.errors.items()}
    field, messages = next(iter(fields.items()))
    raise OptionsError(messages[0], code=code(field), fields=fields)
