"""The status document of a job: the documented fields, for the API, webhooks and pages.

It depends on no request, so the worker can render it for a webhook: the caller passes the
absolute base URL that `imageUrl` starts with. Rendering never writes: a completed job whose
result image is gone is answered as failed here and recorded by the worker (lost_results.py).
"""
import base64

from tryon import errors
from tryon.queue import jobs, lost_results
from tryon.queue.jobs import JobState
from tryon.store.objects import StorageError

PUBLIC_STATUS = {JobState.QUEUED: "processing", JobState.RUNNING: "processing",
                 JobState.COMPLETED: "completed", JobState.FAILED: "failed"}


class StatusRenderer:
    def __init__(self, store, signer, delivery, retention_days, lost):
        self.store = store
        self.lost = lost                    # LostResults: where reads report a gone image
        self.signer = signer
        self.delivery = delivery            # "url" | "base64" | "both"
        self.retention_days = retention_days

    def render(self, conn, job, base_url, *, with_base64=True, with_queue_position=True):
        body = {"jobId": job.id, "status": PUBLIC_STATUS[job.state]}
        if not job.finished:
            body.update(self._processing_fields(conn, job, with_queue_position))
        elif job.images_deleted_at:
            body.update(self._deleted_images_fields(job))
        elif job.state == JobState.COMPLETED:
            body.update(self._completed_fields(job, base_url, with_base64))
        else:
            body.update(failed_fields(job.result, job.error, job.error_code))
        body["createdAt"] = job.created_at
        body["updatedAt"] = job.updated_at
        return body

    def _processing_fields(self, conn, job, with_queue_position):
        if job.state == JobState.QUEUED:
            if not with_queue_position:
                return {"message": "Job is queued.", "result": {"stage": "queued"}}
            position, length = jobs.queue_position(conn, job)
            return {"message": f"Job is queued: position {position} of {length}.",
                    "result": {"stage": "queued", "queuePosition": position}}
        message = "Job is generating the try-on image."
        if job.attempts > 1:
            message = f"Job is generating the try-on image (attempt {job.attempts})."
        return {"message": message, "result": {"stage": "generating", "attempt": job.attempts}}

    def _completed_fields(self, job, base_url, with_base64):
        result = job.result
        key = job.result_key
        if not self.store.exists(key):
            return self._lost_result(job, result)
        fields = {"result": result}
        if self.delivery in ("url", "both"):
            image_url = base_url.rstrip("/") + self.signer.signed_path(key)
            fields["imageUrl"] = image_url
            fields["resultImageUrl"] = image_url  # the name the documented examples read
        if self.delivery in ("base64", "both") and with_base64:
            try:
                fields["imageBase64"] = base64.b64encode(self.store.read(key)).decode("ascii")
            except StorageError:
                return self._lost_result(job, result)
        return fields

    def _lost_result(self, job, result):
        """The answer the job's row will give once the worker has failed and refunded it
        (LostResults.repair): computed here, written there."""
        self.lost.report(job.id)
        return failed_fields({**result, "step": "deliver_result"}, lost_results.MESSAGE,
                             errors.RESULT_UNAVAILABLE)

    def _deleted_images_fields(self, job):
        message = (f"The images of this job were deleted after {self.retention_days} days "
                   "(TRYON_RETENTION_DAYS).")
        result = {**job.result, "imagesDeleted": True, "imagesDeletedAt": job.images_deleted_at}
        fields = {"message": message, "result": result}
        if job.state == JobState.FAILED:
            fields.update(error=job.error, errorCode=job.error_code)
        return fields


def failed_fields(result, message, error_code):
    result = {**result, "error": message, "errorCode": error_code}
    return {"status": "failed", "error": message, "errorCode": error_code, "result": result}

