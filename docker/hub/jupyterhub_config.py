"""JupyterHub for a class: one lab container per student, from the hub image (DockerSpawner).

Started by docker/hub/hub.sh (`make hub`), which passes every setting as a TW_HUB_*
environment variable (the Makefile's HUB_* variables). What it sets up:

- the public proxy (configurable-http-proxy, installed from docker/hub/package-lock.json)
  on TW_HUB_IP:TW_HUB_PORT (127.0.0.1:8000); the hub API on the gateway address of the
  class's own Docker network, the only address the students' containers can reach it on;
- one container per student from TW_HUB_IMAGE (or TW_HUB_GPU_IMAGE, chosen on the spawn
  page), with a CPU and a memory limit, on that network, removed when it stops;
- a named volume per student (TW_HUB_VOLUME_PREFIX + name) holding the workspace only: the
  released labs, copied in on first use and never overwritten, as `make lab` does. The
  engine stays in the image, so an image update reaches every student;
- the site's OAuth login (oauthenticator), for the students on the class list; the instructors
  (TW_HUB_ADMINS) are the hub's admins, and their own server also gets every student's
  workspace, read-only, under ~/submissions/<student>, for grading;
- the idle culler (jupyterhub-idle-culler) as a hub service.

A site's own settings (an OAuth login instead of NativeAuthenticator, other limits) go in a
file named by TW_HUB_EXTRA_CONFIG, loaded last (see README.md, "A class on JupyterHub").
"""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 -- provided by JupyterHub when it loads this file


def setting(name, default=None):
    """TW_HUB_<name> from the environment; a missing required one is named with its fix."""
    value = os.environ.get(f"TW_HUB_{name}", default)
    if value is None:
        raise SystemExit(f"jupyterhub_config.py: TW_HUB_{name} is not set; start the hub with "
                         "`make hub` (docker/hub/hub.sh sets it)")
    return value


state = Path(setting("STATE"))
admins = {name.strip() for name in setting("ADMINS", "instructor").split(",") if name.strip()}
volume_prefix = setting("VOLUME_PREFIX", "tensorweaver-hub-")
cpu_image = setting("IMAGE")
gpu_image = setting("GPU_IMAGE", "")

# ------------------------------------------------------------------ network and state
c.JupyterHub.bind_url = f"http://{setting('IP', '127.0.0.1')}:{setting('PORT', '8000')}"
# The students' containers reach the hub on the gateway of the class's network (never on
# 127.0.0.1: inside a container that is the container itself).
c.JupyterHub.hub_bind_url = f"http://{setting('HUB_IP')}:{setting('HUB_API_PORT', '8081')}"
c.JupyterHub.hub_connect_url = c.JupyterHub.hub_bind_url
c.ConfigurableHTTPProxy.command = [setting("PROXY")]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{setting('PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
# Stopping the hub (make hub-stop) stops the students' servers; their volumes stay.
c.JupyterHub.cleanup_servers = True

# ------------------------------------------------------------------ the students' servers
c.JupyterHub.spawner_class = "docker"
c.DockerSpawner.image = cpu_image
c.DockerSpawner.cmd = ["jupyterhub-singleuser"]
c.DockerSpawner.network_name = setting("NETWORK")
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True
c.DockerSpawner.pull_policy = "never"          # the images are built here (make hub-build)
c.DockerSpawner.name_template = f"{volume_prefix}{{username}}"
c.DockerSpawner.volumes = {f"{volume_prefix}{{username}}": "/home/jovyan/workspace"}
# What the student's server shows (JUPYTERHUB_ROOT_DIR): the workspace, in the volume.
c.DockerSpawner.notebook_dir = "/home/jovyan/workspace"
c.DockerSpawner.mem_limit = setting("MEM", "2G")
c.DockerSpawner.cpu_limit = float(setting("CPUS", "1"))
c.Spawner.default_url = "/lab"
# Ten students starting at once on a small machine take longer than the defaults allow.
c.Spawner.start_timeout = int(setting("START_TIMEOUT", "300"))
c.Spawner.http_timeout = int(setting("START_TIMEOUT", "300"))

if gpu_image:
    # The spawn page offers both images; the GPU one gets the GPUs (when Docker has them,
    # else Legate runs in CPU mode on the CUDA driver stand-in) and the shared memory Legate
    # and NCCL need.
    c.DockerSpawner.allowed_images = {"CPU (NumPy)": cpu_image, "GPU (cuPyNumeric)": gpu_image}
    gpus = setting("GPUS", "") == "all"

    def host_config(spawner):
        if spawner.image != gpu_image:
            return {}
        config = {"shm_size": "1g"}
        if gpus:
            import docker.types
            config["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
        return config

    c.DockerSpawner.extra_host_config = host_config


def mount_submissions(spawner):
    """An instructor's server gets every student's workspace, read-only, in ~/submissions/."""
    if spawner.user.name not in admins:
        return
    import docker

    own = f"{volume_prefix}{spawner.escaped_name}"
    volumes = dict(spawner.volumes)
    for volume in docker.from_env().volumes.list(filters={"name": volume_prefix}):
        if not volume.name.startswith(volume_prefix) or volume.name == own:
            continue
        student = volume.name[len(volume_prefix):]
        volumes[volume.name] = {"bind": f"/home/jovyan/submissions/{student}", "mode": "ro"}
    spawner.volumes = volumes


c.Spawner.pre_spawn_hook = mount_submissions

# ------------------------------------------------------------------ accounts
# The site's single sign-on (OAuth 2 / OpenID Connect) through oauthenticator. (JupyterHub's
# NativeAuthenticator 1.3.0, where students sign up and an instructor approves them, fails
# with JupyterHub 6.1.1: its login form answers 500, "'LoginHandler' object has no attribute
# 'statsd'".) Another provider (GitHub, Google, Azure AD...): set it in HUB_EXTRA_CONFIG.
auth = setting("AUTH", "oauth")
c.Authenticator.admin_users = admins
# Admins hold JupyterHub's admin role: they see, start, stop and open every student's server.
if auth == "oauth":
    from oauthenticator.generic import GenericOAuthenticator  # noqa: E402

    c.JupyterHub.authenticator_class = GenericOAuthenticator
    missing = [name for name in ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH2_AUTHORIZE_URL",
                                 "OAUTH2_TOKEN_URL", "OAUTH2_USERDATA_URL") if not os.environ.get(name)]
    if missing and not setting("EXTRA_CONFIG", ""):
        raise SystemExit(
            f"jupyterhub_config.py: the hub logs students in through the site's OAuth provider, "
            f"and {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Register "
            f"the hub as an OAuth client (callback {c.JupyterHub.bind_url}/hub/oauth_callback, or "
            "the public URL in front of it) and export those variables, or give another "
            "authenticator in HUB_EXTRA_CONFIG=FILE (see README.md, 'A class on JupyterHub').")
    # OAUTH2_USERNAME_KEY (the claim holding the user name) and the URLs are read by
    # oauthenticator itself. Who may log in: the class list, or groups from the provider.
    allowed = {name.strip() for name in setting("ALLOWED_USERS", "").split(",") if name.strip()}
    groups = {name.strip() for name in setting("ALLOWED_GROUPS", "").split(",") if name.strip()}
    c.GenericOAuthenticator.allowed_users = allowed
    if groups:
        c.GenericOAuthenticator.manage_groups = True
        c.GenericOAuthenticator.allowed_groups = groups
    c.GenericOAuthenticator.allow_all = setting("ALLOW_ALL", "0") == "1"
elif auth == "shared-password":
    # For the tests (tests/hub/) only: one password for every student, another for the
    # admins. Refused unless the hub listens on the loopback address alone.
    if not setting("IP", "127.0.0.1").startswith("127."):
        raise SystemExit("jupyterhub_config.py: HUB_AUTH=shared-password is for tests on "
                         "127.0.0.1 only; a class logs in through OAuth (see README.md)")
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = setting("SHARED_PASSWORD")
    c.SharedPasswordAuthenticator.admin_password = setting("ADMIN_PASSWORD")
    c.Authenticator.allow_all = True
else:
    raise SystemExit(f"jupyterhub_config.py: HUB_AUTH={auth} is not one of oauth, shared-password")

# ------------------------------------------------------------------ idle culling
# The single-user servers report activity every 5 minutes: keep the timeout well above that,
# or students who are working can be culled.
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                f"--timeout={setting('IDLE_TIMEOUT', '3600')}",
                f"--cull-every={setting('CULL_EVERY', '300')}"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "services": ["idle-culler"],
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
}]

# ------------------------------------------------------------------ the site's own settings
extra = setting("EXTRA_CONFIG", "")
if extra:
    if not Path(extra).is_file():
        raise SystemExit(f"jupyterhub_config.py: TW_HUB_EXTRA_CONFIG={extra} is not a file")
    load_subconfig(extra)  # noqa: F821 -- provided by JupyterHub
