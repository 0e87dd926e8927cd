"""Reading a multipart upload with limits enforced while the body streams in."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from tempfile import SpooledTemporaryFile

from fastapi import Request
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from image2model.errors import BadRequest, PayloadTooLarge

FILES_FIELD = "files"


class _LimitedParser(MultiPartParser):
    """Starlette's parser, refusing a file part as soon as it passes `max_file_size`.

    A `files` part without a file name is still a file (some clients omit the name).
    """

    def __init__(self, *args: object, max_file_size: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.max_file_size = max_file_size
        self._file_bytes = 0

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        part = self._current_part
        if part.file is None and part.field_name == FILES_FIELD:
            self._current_fields -= 1
            self._current_files += 1
            if self._current_files > self.max_files:
                raise MultiPartException(f"Too many files. Maximum is {self.max_files}.")
            spool = SpooledTemporaryFile(max_size=self.spool_max_size)  # noqa: SIM115 (closed with the form)
            self._files_to_close_on_error.append(spool)
            headers = Headers(raw=part.item_headers)
            part.file = UploadFile(file=spool, size=0, filename=None, headers=headers)  # type: ignore[arg-type]

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._file_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._file_bytes += end - start
            if self._file_bytes > self.max_file_size:
                name = self._current_part.file.filename or "file"
                raise PayloadTooLarge(
                    f"{name[:100]} is larger than {self.max_file_size} bytes",
                    details={"filename": name[:100], "max_bytes": self.max_file_size},
                )
        super().on_part_data(data, start, end)


async def read_upload_form(
    request: Request,
    *,
    max_files: int,
    max_fields: int,
    max_file_size: int,
    max_request_size: int,
) -> FormData:
    """The parsed form; 413 the moment a file or the whole body passes its limit."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise BadRequest("Send the images as multipart/form-data", error_code="NOT_MULTIPART")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_request_size:
        raise _request_too_large(max_request_size)
    parser = _LimitedParser(
        request.headers,
        _capped(request.stream(), max_request_size),
        max_files=max_files,
        max_fields=max_fields,
        max_file_size=max_file_size,
    )
    try:
        return await parser.parse()
    except MultiPartException as error:
        raise BadRequest(f"Malformed upload: {error.message}", error_code="BAD_MULTIPART") from None


async def _capped(stream: AsyncGenerator[bytes, None], limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise _request_too_large(limit)
        yield chunk


def _request_too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The upload is larger than {limit} bytes",
        error_code="REQUEST_TOO_LARGE",
        details={"max_bytes": limit},
    )
