"""A Python client and command line for a tryon server; it needs only `requests`.

Copy this one file to any machine, or use it from this package:

    from tryon.client import TryOnClient
    client = TryOnClient("https://tryon.example.com", api_key="ta_...")
    final = client.run("person.jpg", "shirt.jpg", "out.png", category="tops")

    python -m tryon.client run person.jpg shirt.jpg -o out.png \\
        --base-url https://tryon.example.com --api-key ta_...   (or TRYON_BASE_URL / TRYON_API_KEY)

Submits carry an Idempotency-Key, so a submit retried after a timeout or a 5xx never makes
(or pays for) a second job.
"""
import argparse
import base64
import json
import os
import sys
import time
import uuid
from pathlib import Path

import requests

RETRYABLE_STATUSES = {429, 500, 502, 503, 504}


class TryOnError(Exception):
    """The server refused a request (`status`, `error_code`) or could not be reached."""

    def __init__(self, message, status=None, error_code=None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class JobFailed(TryOnError):
    """The job ended with status "failed"; `document` is its status document."""

    def __init__(self, document):
        super().__init__(f"{document.get('error')} ({document.get('errorCode')})",
                         error_code=document.get("errorCode"))
        self.document = document


class TryOnClient:
    def __init__(self, base_url, api_key, *, timeout=60, retries=4, session=None,
                 sleep=time.sleep):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._sleep = sleep
        self._session = session or requests.Session()
        self._session.headers["Authorization"] = f"Bearer {api_key}"

    # --- the API ---------------------------------------------------------------------

    def submit(self, person, garment, *, idempotency_key=None, **options):
        """Queue a job. `person` / `garment`: a path, bytes, a file object or an http(s) URL.
        Options: category, seed, fast_mode, garment_description, webhook_url."""
        fields = {name: _option_text(value) for name, value in options.items() if value is not None}
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        person_field, garment_field = _image_field(person), _image_field(garment)

        def build():
            files, data = {}, dict(fields)
            for name, field in (("person_images", person_field), ("garment_images", garment_field)):
                if isinstance(field, str):
                    data[name] = field
                else:
                    files[name] = field
            return {"files": files or None, "data": data}

        return self._request("POST", "/api/v1/tryon", headers=headers, build=build)

    def status(self, job_id):
        return self._request("GET", f"/api/v1/tryon/status/{job_id}")

    def wait(self, job_id, *, interval=2.0, timeout=900, on_progress=None):
        """Poll until the job finishes; return its document or raise JobFailed / TryOnError."""
        deadline = time.monotonic() + timeout
        while True:
            document = self.status(job_id)
            if on_progress is not None:
                on_progress(document)
            if document["status"] == "completed":
                return document
            if document["status"] == "failed":
                raise JobFailed(document)
            if time.monotonic() + interval > deadline:
                raise TryOnError(f"job {job_id} did not finish within {timeout} s")
            self._sleep(interval)

    def download(self, document, path):
        """Save a completed job's image (from imageUrl or imageBase64) to `path`."""
        path = Path(path)
        if document.get("imageBase64"):
            data = base64.b64decode(document["imageBase64"])
        elif document.get("imageUrl"):
            response = self._session.get(document["imageUrl"], timeout=self.timeout)
            if response.status_code != 200:
                raise TryOnError(f"downloading the result failed: HTTP {response.status_code}",
                                 response.status_code)
            data = response.content
        else:
            raise TryOnError("the job has no image to download")
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path

    def run(self, person, garment, output, *, on_progress=None, timeout=900, **options):
        """Submit, wait and download in one call; return the final status document."""
        job = self.submit(person, garment, **options)
        document = self.wait(job["jobId"], on_progress=on_progress, timeout=timeout)
        self.download(document, output)
        return document

    def list_jobs(self, *, status=None, limit=20, cursor=None):
        params = {k: v for k, v in (("status", status), ("limit", limit), ("cursor", cursor)) if v}
        return self._request("GET", "/api/v1/tryon/jobs", params=params)

    def cancel(self, job_id):
        return self._request("POST", f"/api/v1/tryon/{job_id}/cancel")

    def delete(self, job_id):
        self._request("DELETE", f"/api/v1/tryon/{job_id}")

    def credits(self):
        return self._request("GET", "/api/v1/credits")

    # --- transport -----------------------------------------------------------------------

    def _request(self, method, path, *, build=None, **kwargs):
        """Send with retries on connection errors, 429 and 5xx (honouring Retry-After)."""
        for attempt in range(self.retries + 1):
            try:
                response = self._session.request(method, self.base_url + path,
                                                 timeout=self.timeout, **(build() if build else {}),
                                                 **kwargs)
            except requests.RequestException as exc:
                if attempt == self.retries:
                    raise TryOnError(f"could not reach {self.base_url}: {exc}") from None
                self._sleep(_backoff(attempt))
                continue
            if response.status_code in RETRYABLE_STATUSES and attempt < self.retries:
                self._sleep(_retry_after(response) or _backoff(attempt))
                continue
            return _parse(response)
        raise AssertionError("unreachable")


def _parse(response):
    if response.status_code == 204:
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        raise TryOnError(body.get("error") or f"HTTP {response.status_code}",
                         response.status_code, body.get("errorCode"))
    return body


def _backoff(attempt):
    return min(30.0, 0.5 * 2 ** attempt)


def _retry_after(response):
    value = response.headers.get("Retry-After", "")
    return min(float(value), 120.0) if value.isascii() and value.isdigit() else None


def _image_field(source):
    if isinstance(source, str) and source.lower().startswith(("http://", "https://")):
        return source
    if isinstance(source, (bytes, bytearray)):
        return ("image", bytes(source))
    if hasattr(source, "read"):
        return (Path(getattr(source, "name", "image")).name, source.read())
    path = Path(source)
    return (path.name, path.read_bytes())


def _option_text(value):
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


# --- command line -------------------------------------------------------------------------

def _progress_printer(stream):
    started = time.monotonic()
    last = [None]

    def show(document):
        line = document.get("message") or document["status"]
        if document["status"] == "completed":
            line = f"completed in {time.monotonic() - started:.1f} s"
        if line != last[0]:
            print(line, file=stream, flush=True)
            last[0] = line

    return show


def _parser():
    parser = argparse.ArgumentParser(prog="python -m tryon.client",
                                     description="Use a tryon server from the command line.")
    parser.add_argument("--base-url", default=os.environ.get("TRYON_BASE_URL"),
                        help="server address (default: $TRYON_BASE_URL)")
    parser.add_argument("--api-key", default=os.environ.get("TRYON_API_KEY"),
                        help="API key (default: $TRYON_API_KEY)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="try a garment on a person and save the result")
    run.add_argument("person", help="person photo: a file or an http(s) URL")
    run.add_argument("garment", help="garment photo: a file or an http(s) URL")
    run.add_argument("-o", "--output", required=True, help="where to save the result image")
    run.add_argument("--category", choices=("auto", "tops", "bottoms", "one-pieces"))
    run.add_argument("--seed", type=int)
    run.add_argument("--fast", dest="fast_mode", action="store_true", default=None)
    run.add_argument("--description", dest="garment_description")
    run.add_argument("--idempotency-key")
    run.add_argument("--timeout", type=float, default=900, help="seconds to wait (default 900)")
    status = commands.add_parser("status", help="print a job's status document")
    status.add_argument("job_id")
    commands.add_parser("credits", help="print your credit balance")
    return parser


def main(argv=None, stdout=sys.stdout, stderr=sys.stderr):
    args = _parser().parse_args(argv)
    if not args.base_url or not args.api_key:
        print("error: give --base-url and --api-key (or TRYON_BASE_URL and TRYON_API_KEY)",
              file=stderr)
        return 2
    client = TryOnClient(args.base_url, args.api_key)
    try:
        if args.command == "run":
            document = client.run(
                args.person, args.garment, args.output, on_progress=_progress_printer(stderr),
                timeout=args.timeout, idempotency_key=args.idempotency_key,
                category=args.category, seed=args.seed, fast_mode=args.fast_mode,
                garment_description=args.garment_description)
            print(f"saved {args.output} (job {document['jobId']})", file=stdout)
        elif args.command == "status":
            print(json.dumps(client.status(args.job_id), indent=2), file=stdout)
        else:
            print(client.credits()["balance"], file=stdout)
    except JobFailed as exc:
        print(f"job failed: {exc}", file=stderr)
        return 1
    except (TryOnError, OSError) as exc:
        print(f"error: {exc}", file=stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
