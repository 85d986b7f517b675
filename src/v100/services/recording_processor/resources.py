"""recording_processor's job resources (``v100.media.jobs``): its settings, the object store and
the bus (recordings cost no credits). The app installs its own at start-up; a
``v100 worker recording_processor`` process opens them from the environment on first use."""

from __future__ import annotations

from v100.media.jobs import JobResources, ResourceSlot
from v100.services.recording_processor.settings import RecordingProcessorSettings

__all__ = ["FILES_PATH", "RESOURCES", "Resources"]

# Local-disk presigned links resolve here (through the gateway: its origin); S3 signs its own.
FILES_PATH = "/v1/recordings/files"

Resources = JobResources[RecordingProcessorSettings]
RESOURCES = ResourceSlot(RecordingProcessorSettings, presigned_path=FILES_PATH)
