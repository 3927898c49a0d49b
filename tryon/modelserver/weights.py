"""Getting a model's weights onto this machine before it loads: from the Hugging Face Hub at
the revision its ModelSpec pins (into the Hub's usual cache, resumable, with byte progress
for /readyz and the log), or from a folder the operator prepared (--model-path) on machines
with no network at all.

Nothing here runs at import time, and huggingface_hub is imported inside the functions: the
server core imports this module before it knows whether a download is needed.

Every setting is passed to the library explicitly (endpoint, cache folder, offline, timeouts)
rather than through the HF_* environment variables the library reads once, at its import.
"""
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# A revision written as a full commit id names files that can never change, so a copy found
# in the cache is used without asking the Hub.
COMMIT_ID = re.compile(r"[0-9a-f]{40}")
DIFFUSERS_INDEX = "model_index.json"
DEFAULT_TIMEOUT_S = 10.0       # for each metadata request to the Hub
DEFAULT_LOG_INTERVAL_S = 5.0   # at most one progress line in the log this often


class WeightsUnavailable(Exception):
    """The weights cannot be had; the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class RepoRequest:
    """One Hub repository to fetch: the model itself, or an extra one (a LoRA)."""
    repo_id: str
    revision: str | None
    allow_patterns: tuple[str, ...] | None


@dataclass(frozen=True)
class _RepoPlan:
    """What the Hub said about a repository at our revision: the files we want, by size."""
    repo: RepoRequest
    commit: str
    file_sizes: dict[str, int]
    cached_files: frozenset[str]

    @property
    def total_bytes(self):
        return sum(self.file_sizes.values())

    @property
    def missing_bytes(self):
        return sum(size for name, size in self.file_sizes.items()
                   if name not in self.cached_files)


def fetch_weights(spec, *, model_path=None, cache_dir=None, endpoint=None, offline=False,
                  progress=None, timeout_s=DEFAULT_TIMEOUT_S,
                  log_interval_s=DEFAULT_LOG_INTERVAL_S):
    """The folder to load `spec` from, downloading what is missing; None when the model
    needs no weights (spec.repo_id is None).

    model_path: a diffusers folder prepared by hand; it is checked and returned, nothing else
    is fetched. cache_dir: the Hub cache (None: the library's default, ~/.cache/huggingface/
    hub or $HF_HUB_CACHE). endpoint: the Hub's URL (None: $HF_ENDPOINT or huggingface.co).
    offline: use the cache only (also when HF_HUB_OFFLINE was set as huggingface_hub loaded).
    progress: called as progress(fraction, detail) from the download threads, fraction
    0.0 .. 1.0 by bytes over every wanted file, never decreasing; keep it quick.

    Raises WeightsUnavailable with the fix in its message.
    """
    if model_path is not None:
        return check_model_folder(Path(model_path).expanduser())
    if spec.repo_id is None:
        return None
    from huggingface_hub import constants

    repos = repos_of(spec)
    folders = _fetch_repos(repos, cache_dir, endpoint, offline or constants.is_offline_mode(),
                           _ByteProgress(progress, log_interval_s), timeout_s)
    return _require_model_index(folders[repos[0]], repos[0])


def _fetch_repos(repos, cache_dir, endpoint, offline, reporter, timeout_s):
    """{repo: its snapshot folder}: from the cache where a pinned commit is complete there,
    else from the Hub (or, when the Hub is down, from a cached branch)."""
    folders = {repo: _pinned_folder_in_cache(repo, cache_dir) for repo in repos}
    missing = [repo for repo in repos if folders[repo] is None]
    if missing and offline:
        raise WeightsUnavailable(_how_to_fix(missing[0], cache_dir, "offline mode is on"))
    plans = []
    for repo in missing:
        plan, folder = _plan_or_cached_folder(repo, cache_dir, endpoint, timeout_s)
        if plan is None:
            folders[repo] = folder
        else:
            plans.append(plan)
    reporter.expect(sum(plan.total_bytes for plan in plans))
    for plan in plans:
        folders[plan.repo] = _download(plan, reporter, cache_dir, endpoint, timeout_s)
    reporter.finish()
    return folders


def repos_of(spec):
    """The repositories a spec needs: its own first, then its extra_downloads."""
    own = RepoRequest(spec.repo_id, spec.revision, _patterns(spec.allow_patterns))
    extras = [RepoRequest(extra.repo_id, extra.revision, _patterns(extra.allow_patterns))
              for extra in spec.extra_downloads]
    return [own, *extras]


def extra_folders(spec, *, cache_dir=None):
    """{name: folder} of the spec's extra downloads (a LoRA), which fetch_weights put in the
    cache; found without the network."""
    return {extra.name: cached_repo_folder(extra.repo_id, extra.revision, extra.allow_patterns,
                                           cache_dir=cache_dir)
            for extra in spec.extra_downloads}


def cached_repo_folder(repo_id, revision, allow_patterns=None, *, cache_dir=None):
    """The cached snapshot of a repository that fetch_weights fetched (an extra download,
    such as a LoRA), found without the network; WeightsUnavailable when it is not there."""
    repo = RepoRequest(repo_id, revision, _patterns(allow_patterns))
    folder = _folder_in_cache(repo, cache_dir)
    if folder is None:
        raise WeightsUnavailable(_how_to_fix(repo, cache_dir, "this lookup does not download"))
    return folder


def check_model_folder(folder):
    """`folder` if it holds a diffusers pipeline (its model_index.json), else why not."""
    if not folder.is_dir():
        raise WeightsUnavailable(f"--model-path {folder}: no such folder")
    if not (folder / DIFFUSERS_INDEX).is_file():
        raise WeightsUnavailable(
            f"--model-path {folder}: no {DIFFUSERS_INDEX} in it, so it is not a diffusers "
            "model folder; point it at the folder that `hf download REPO --revision REV "
            "--local-dir DIR` wrote (the model's repository and pinned revision are in "
            "the README)")
    return folder


def _patterns(allow_patterns):
    return tuple(allow_patterns) if allow_patterns is not None else None


def _as_list(allow_patterns):
    """The patterns as huggingface_hub takes them (a list, or None for every file)."""
    return list(allow_patterns) if allow_patterns is not None else None


def _pinned_folder_in_cache(repo, cache_dir):
    """The repository's complete snapshot in the cache when its revision is a commit id,
    else None. Looks at the disk only: a pinned commit's files never change, so a machine
    with them cached starts without the Hub."""
    if repo.revision is None or not COMMIT_ID.fullmatch(repo.revision):
        return None
    return _folder_in_cache(repo, cache_dir)


def _folder_in_cache(repo, cache_dir):
    """The cached snapshot of `repo` with every wanted file, or None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(repo.repo_id, revision=repo.revision, cache_dir=cache_dir,
                                   allow_patterns=_as_list(repo.allow_patterns),
                                   local_files_only=True)
    except LocalEntryNotFoundError:   # also IncompleteSnapshotError: some files missing
        return None
    return Path(folder)


def _plan_or_cached_folder(repo, cache_dir, endpoint, timeout_s):
    """(plan, None) with what to download, or (None, folder) when the Hub cannot be reached
    but the cache has the repository at a branch or tag revision."""
    try:
        return _plan(repo, cache_dir, endpoint, timeout_s), None
    except WeightsUnavailable as unreachable:
        if not _is_unreachable(unreachable.__cause__):
            raise
        folder = _folder_in_cache(repo, cache_dir)
        if folder is None:
            raise
        logger.warning("%s; using the copy of %s in the cache", unreachable.__cause__,
                       repo.repo_id)
        return None, folder


def _plan(repo, cache_dir, endpoint, timeout_s):
    """Ask the Hub for the repository's files at our revision (one request, no retries, so
    an unreachable Hub fails within about `timeout_s`) and look up which are cached."""
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
    from huggingface_hub.utils import filter_repo_objects

    hub = endpoint or constants.ENDPOINT
    try:
        info = HfApi(endpoint=endpoint).model_info(repo.repo_id, revision=repo.revision,
                                                   files_metadata=True, timeout=timeout_s)
    except RevisionNotFoundError as error:
        raise WeightsUnavailable(
            f"{repo.repo_id} has no revision {repo.revision} on {hub}; the pinned revision "
            "may have been removed: pin one the repository has in the model module") from error
    except RepositoryNotFoundError as error:   # also a gated repository without access
        raise WeightsUnavailable(
            f"{repo.repo_id} was not found on {hub}, or needs a token: accept its licence on "
            "the Hub and set HF_TOKEN") from error
    except _hub_errors() as error:
        raise WeightsUnavailable(_how_to_fix(repo, cache_dir, _hub_failure(hub, error))) from error
    sizes = {sibling.rfilename: sibling.size or 0 for sibling in info.siblings or []}
    wanted = filter_repo_objects(sizes, allow_patterns=_as_list(repo.allow_patterns))
    file_sizes = {name: sizes[name] for name in wanted}
    cached = frozenset(name for name in file_sizes if isinstance(
        try_to_load_from_cache(repo.repo_id, name, cache_dir=cache_dir, revision=info.sha), str))
    return _RepoPlan(repo, info.sha, file_sizes, cached)


def _hub_errors():
    """What the Hub's client raises when a request fails: no connection, a timeout, offline
    mode, or an HTTP error answer."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    return (httpx2.TransportError, OfflineModeIsEnabled, HfHubHTTPError)


def _is_unreachable(error):
    """True for the failures a cached copy may stand in for: the Hub is not there (no
    connection, a timeout, offline mode) or is down (5xx); not for a refusal (4xx)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(error, (httpx2.TransportError, OfflineModeIsEnabled)):
        return True
    response = getattr(error, "response", None)
    if not isinstance(error, HfHubHTTPError) or response is None:
        return False
    return response.status_code >= 500


def _hub_failure(hub, error):
    """Why a request to the Hub failed, in words for the error message."""
    import httpx2
    from huggingface_hub.errors import OfflineModeIsEnabled

    described = f"{type(error).__name__}: {error}"
    if isinstance(error, (httpx2.TransportError, OfflineModeIsEnabled)):
        return f"the Hub at {hub} could not be reached ({described})"
    return f"the Hub at {hub} answered with an error ({described})"


def _download(plan, reporter, cache_dir, endpoint, timeout_s):
    """Fetch the plan's missing files with snapshot_download and return its snapshot
    folder. Files cached before are kept; a file cut off mid-way starts again."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo = plan.repo
    logger.info("fetching %s at %s: %d files, %s, %s of it already cached, into %s",
                repo.repo_id, plan.commit, len(plan.file_sizes), _size(plan.total_bytes),
                _size(plan.total_bytes - plan.missing_bytes), cache_dir or "the Hub cache")
    reporter.start_repo(repo.repo_id, plan.total_bytes - plan.missing_bytes)
    try:
        folder = snapshot_download(
            repo.repo_id, revision=repo.revision, allow_patterns=_as_list(repo.allow_patterns),
            cache_dir=cache_dir, endpoint=endpoint, etag_timeout=timeout_s,
            tqdm_class=_counting_bar_class(reporter))
    except (LocalEntryNotFoundError, *_hub_errors()) as error:
        reason = f"the download broke off ({type(error).__name__}: {error})"
        raise WeightsUnavailable(_how_to_fix(repo, cache_dir, reason)
                                 + "; running again keeps the files already fetched") from error
    reporter.end_repo(plan.missing_bytes)
    return Path(folder)


def _require_model_index(folder, repo):
    if not (folder / DIFFUSERS_INDEX).is_file():
        raise WeightsUnavailable(
            f"{repo.repo_id} at {repo.revision} has no {DIFFUSERS_INDEX} among the files "
            f"fetched into {folder}: the model's allow_patterns must include it")
    return folder


def _how_to_fix(repo, cache_dir, reason):
    """The message for weights that are not in the cache and cannot be downloaded now."""
    includes = "".join(f" --include '{pattern}'" for pattern in repo.allow_patterns or ())
    revision = f" --revision {repo.revision}" if repo.revision else ""
    return (
        f"The weights of {repo.repo_id} (revision {repo.revision or 'main'}) are not in the "
        f"cache ({cache_dir or 'the Hugging Face cache'}) and {reason}. Either run once with "
        "network access to the Hub, or download them on a machine that has it with "
        f"`hf download {repo.repo_id}{revision}{includes} --local-dir DIR`, copy DIR here "
        "and start with --model-path DIR (or TRYON_MODELSERVER_MODEL_PATH=DIR)")


class _ByteProgress:
    """Bytes on disk over bytes wanted, for one fetch_weights call, reported to the caller
    and, at most every `log_interval_s`, to the log. Fed from the download threads."""

    def __init__(self, report, log_interval_s, clock=time.monotonic):
        self._lock = threading.Lock()
        self._total = 0
        self._report = report
        self._log_interval_s = log_interval_s
        self._clock = clock
        self._settled = 0       # bytes of files cached before, or of repositories finished
        self._counters = {}     # id(progress bar) -> bytes it counted, current repository
        self._fraction = 0.0
        self._repo_id = ""
        self._last_log = None

    def expect(self, total_bytes):
        """Set the bytes wanted, once they are known and before any is counted."""
        with self._lock:
            self._total = total_bytes

    def start_repo(self, repo_id, cached_bytes):
        with self._lock:
            self._repo_id = repo_id
            self._settled += cached_bytes
            self._counters = {}
            self._publish()

    def count(self, bar, nbytes):
        with self._lock:
            self._counters[id(bar)] = self._counters.get(id(bar), 0) + nbytes
            self._publish()

    def end_repo(self, downloaded_bytes):
        with self._lock:
            self._settled += downloaded_bytes
            self._counters = {}

    def finish(self):
        with self._lock:
            self._fraction = 1.0
            self._emit("weights ready", force_log=True)

    def _publish(self):
        # snapshot_download keeps two byte counts (received from the network, written to
        # disk), fed from the same chunks over plain HTTP; the larger is the bytes done.
        done = self._settled + max(self._counters.values(), default=0)
        fraction = min(1.0, done / self._total) if self._total else 0.0
        if fraction > self._fraction or self._last_log is None:   # a retry must not go back
            self._fraction = max(self._fraction, fraction)
            self._emit(f"{self._repo_id}: {_size(done)} of {_size(self._total)}")

    def _emit(self, detail, force_log=False):
        if self._report is not None:
            self._report(self._fraction, detail)
        now = self._clock()
        if force_log or self._last_log is None or now - self._last_log >= self._log_interval_s:
            self._last_log = now
            logger.info("weights: %.0f%% (%s)", self._fraction * 100, detail)


def _counting_bar_class(reporter):
    """A progress-bar class for snapshot_download (its tqdm_class) that also hands every
    byte it is told about to `reporter`; it still draws on a terminal as the default does.
    Bars counting bytes say unit="B"; the other one counts files and is left alone."""
    from huggingface_hub.utils.tqdm import tqdm

    class CountingBar(tqdm):
        def __init__(self, *args, **kwargs):
            self._counts_bytes = kwargs.get("unit") == "B"
            super().__init__(*args, **kwargs)
            self._count(kwargs.get("initial") or 0)

        def update(self, n=1):
            self._count(n or 0)
            return super().update(n)

        def _count(self, nbytes):
            if self._counts_bytes and nbytes:
                reporter.count(self, nbytes)

    return CountingBar


def _size(nbytes):
    """Bytes for people: 512 B, 3.4 MB, 13.2 GB."""
    if nbytes < 1000:
        return f"{nbytes} B"
    for unit in ("KB", "MB"):
        nbytes /= 1000
        if nbytes < 1000:
            return f"{nbytes:.1f} {unit}"
    return f"{nbytes / 1000:.1f} GB"
