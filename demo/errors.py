"""User-facing errors: each carries one sentence that the app and the CLI show as is."""


class DemoError(Exception):
    """An error caused by the user's input or environment, with a message meant for them."""


class AudioError(DemoError):
    """The audio can't be used: empty, silent, corrupt, not audio, or too long."""


class UnknownChoiceError(DemoError, ValueError):
    """A model, quantization mode or other registry name that doesn't exist."""


class ModelUnavailableError(DemoError):
    """A model that is not downloaded while offline, or that can't be fetched."""


class AdapterError(DemoError):
    """An adapter directory that doesn't exist, isn't safetensors, or doesn't fit the base model."""


class CompressionError(DemoError):
    """A compressed model (low-rank factors...) that can't be built, saved or loaded as asked."""


class SummaryInputError(DemoError):
    """Text that can't be summarized: empty, or too short for a summary that isn't invented."""


class QuantizationUnavailableError(DemoError):
    """A quantization mode that can't run here (missing bitsandbytes, dtype the device lacks)."""


def unknown_choice(kind: str, name: str, valid: list[str]) -> UnknownChoiceError:
    """Build the error for an unknown registry name, listing the valid ones."""
    return UnknownChoiceError(f"Unknown {kind} {name!r}; choose one of: {', '.join(valid)}.")
