"""Plugin loading: the install tree, a provider written in plain C against the
installed headers only, and libraries the host must refuse with a reason."""
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD_DIR, FIXTURES, OFFLOAD, run_offload, write
from test_run_default import make_project

CC = "cc"


def compile_c(src: Path, out: Path, include: Path, extra=()):
    cmd = [CC, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-shared", "-fPIC", f"-I{include}",
           str(src), "-o", str(out), *extra]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def install_prefix(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("prefix")
    r = subprocess.run(["cmake", "--install", str(BUILD_DIR), "--prefix", str(prefix)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return prefix


def test_install_tree_has_binary_plugins_and_headers(install_prefix):
    assert (install_prefix / "bin" / "offload").exists()
    plugins = {p.name for p in (install_prefix / "lib" / "offload" / "plugins").iterdir()}
    assert {"liboffload_local.so", "liboffload_default.so"} <= plugins
    assert (install_prefix / "include" / "offload" / "plugin.h").exists()
    assert (install_prefix / "include" / "offload" / "plugin.hpp").exists()
    r = subprocess.run([str(install_prefix / "bin" / "offload"), "plugins"], capture_output=True, text=True)
    assert r.returncode == 0
    assert str(install_prefix / "lib" / "offload" / "plugins") in r.stdout
    assert "dev.offload.local" in r.stdout and "dev.offload.default" in r.stdout


def test_plain_c_provider_runs_a_batch(install_prefix, project):
    plugdir = project / "plugs"
    plugdir.mkdir()
    compile_c(FIXTURES / "c_plugin" / "c_provider.c", plugdir / "libc_provider.so", install_prefix / "include")
    make_project(project, {"a": "pass", "b": "fail", "c": "pass"})
    cfg = (project / "offload.toml").read_text().replace('type = "local"', 'type = "c-local"')
    (project / "offload.toml").write_text(cfg)
    installed = str(install_prefix / "bin" / "offload")
    r = subprocess.run([installed, "run", "--plugin-dir", str(plugdir)], cwd=project, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "CI": "true"})
    assert r.returncode == 1, (r.stdout, r.stderr)
    import xml.etree.ElementTree as ET
    root = ET.parse(project / "test-results" / "junit.xml").getroot()
    sandboxes = {p.get("value") for p in root.iter("property") if p.get("name").endswith(".sandbox")}
    assert all(s.startswith("c-sandbox-") for s in sandboxes), sandboxes
    assert root.get("failures") == "1" and root.get("tests") == "3"
    # Also reachable through OFFLOAD_PLUGIN_PATH.
    r = subprocess.run([installed, "plugins"], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "OFFLOAD_PLUGIN_PATH": str(plugdir)})
    assert "test.c-provider" in r.stdout and "c-local" in r.stdout


BROKEN = {
    "libno_entry.so": "int something(void) { return 1; }\n",
    "libabi2.so": '''
#include <offload/plugin.h>
#include <string.h>
static int32_t init(const offload_host *h, const char *p, const offload_error_sink *e) { (void)h; (void)p; (void)e; return 1; }
static void deinit(void) {}
static const void *get_factory(const char *id) { (void)id; return NULL; }
static const offload_plugin_entry entry = {sizeof(offload_plugin_entry), 2, 0, "test.abi2", "9", "", init, deinit, get_factory};
OFFLOAD_EXPORT const offload_plugin_entry *offload_plugin_entry_v1(void) { return &entry; }
''',
    "libonly_v2.so": '''
#include <offload/plugin.h>
OFFLOAD_EXPORT int offload_plugin_entry_v2(void);
int offload_plugin_entry_v2(void) { return 2; }
''',
    "libinit_fails.so": '''
#include <offload/plugin.h>
static int32_t init(const offload_host *h, const char *p, const offload_error_sink *e) {
  (void)h; (void)p; e->set(e, OFFLOAD_E_INVALID, "license file not found"); return 0; }
static void deinit(void) {}
static const void *get_factory(const char *id) { (void)id; return NULL; }
static const offload_plugin_entry entry = {sizeof(offload_plugin_entry), 1, 0, "test.initfail", "1", "", init, deinit, get_factory};
OFFLOAD_EXPORT const offload_plugin_entry *offload_plugin_entry_v1(void) { return &entry; }
''',
    "libnull_entry.so": '''
#include <offload/plugin.h>
OFFLOAD_EXPORT const offload_plugin_entry *offload_plugin_entry_v1(void) { return 0; }
''',
}


def test_broken_libraries_are_refused_with_reasons(install_prefix, project):
    plugdir = project / "plugs"
    plugdir.mkdir()
    for name, src in BROKEN.items():
        c = project / (name + ".c")
        c.write_text(src)
        compile_c(c, plugdir / name, install_prefix / "include")
    (plugdir / "libgarbage.so").write_bytes(b"\x7fELF this is not a shared object" * 10)
    r = run_offload("plugins", "--plugin-dir", str(plugdir), cwd=project)
    assert r.rc == 0, r
    refused = r.out.split("Refused:")[1]
    assert "libno_entry.so: not an offload plugin: no 'offload_plugin_entry_v1' symbol" in refused
    assert "libabi2.so: built for plugin ABI 2, this offload supports ABI 1" in refused
    assert "libonly_v2.so: built for another plugin ABI major version" in refused
    assert "libinit_fails.so: init failed: license file not found" in refused
    assert "libnull_entry.so" in refused and "NULL" in refused
    assert "libgarbage.so: cannot load library" in refused
    # The run goes on with the good plugins.
    make_project(project, {"a": "pass"})
    r = run_offload("run", "--plugin-dir", str(plugdir), cwd=project)
    assert r.rc == 0, r


def test_unknown_type_lists_what_is_available(project):
    make_project(project, {"a": "pass"})
    cfg = (project / "offload.toml").read_text().replace('type = "local"', 'type = "martian"')
    (project / "offload.toml").write_text(cfg)
    r = run_offload("run", cwd=project)
    assert r.rc == 1
    assert "no plugin offers provider type 'martian'" in r.err
    assert "local" in r.err
