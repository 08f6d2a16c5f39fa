"""Why a file's content could not be used, in words a physicist can act on."""


class ExtractionError(ValueError):
    """A file cannot contribute rows; ``reason`` goes into ``dicom_files.reason`` and the log.

    Reasons name the attribute or template at fault ("no Irradiation Event X-Ray Data (113706)
    container", "SOP Instance UID (0008,0018) missing"), never patient data.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
