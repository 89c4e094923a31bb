//! Finding venvs and conda environments, and what the search skips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::inventory::python::{EnvKind, Places, discover};

use super::fixtures::{canon, venv, write};

fn find(
    root: &Path,
    home: &Path,
    roots: &[PathBuf],
    max_depth: usize,
) -> BTreeMap<PathBuf, EnvKind> {
    let places = Places {
        system_root: root,
        home,
        path_var: None,
        roots,
        max_depth,
    };
    let (found, truncated) = discover(&places);
    assert!(!truncated);
    found
}

fn conda(dir: &Path, python: Option<&str>) {
    std::fs::create_dir_all(dir.join("conda-meta")).unwrap();
    if let Some(v) = python {
        write(
            &dir.join(format!("conda-meta/python-{v}-h955ad1f_0.json")),
            "{}",
        );
    }
}

#[test]
fn venvs_under_the_roots_and_conda_envs_in_the_usual_places() {
    let tmp = tempfile::tempdir().unwrap();
    let (sys, home) = (tmp.path().join("sys"), tmp.path().join("home"));
    std::fs::create_dir_all(&sys).unwrap();
    let project = home.join("code/project");
    venv(&project.join(".venv"), "3.12.3");
    venv(&home.join(".virtualenvs/q"), "3.11.7");
    conda(&home.join("miniconda3"), Some("3.11.5"));
    conda(&home.join("miniconda3/envs/qc"), Some("3.10.14"));
    conda(&home.join(".conda/envs/other"), None);
    conda(&tmp.path().join("listed"), None);
    write(
        &home.join(".conda/environments.txt"),
        format!(
            "{}\nrelative/ignored\n/does/not/exist\n",
            tmp.path().join("listed").display()
        ),
    );
    // A project with a conda env inside: found by the walk.
    conda(&project.join("env"), None);
    let found = find(&sys, &home, &[home.clone(), project.clone()], 4);
    let expected: BTreeMap<PathBuf, EnvKind> = [
        (home.join("code/project/.venv"), EnvKind::Venv),
        (home.join("code/project/env"), EnvKind::Conda),
        (home.join(".virtualenvs/q"), EnvKind::Venv),
        (home.join("miniconda3"), EnvKind::Conda),
        (home.join("miniconda3/envs/qc"), EnvKind::Conda),
        (home.join(".conda/envs/other"), EnvKind::Conda),
        (tmp.path().join("listed"), EnvKind::Conda),
    ]
    .into_iter()
    .map(|(p, k)| (canon(&p), k))
    .collect();
    assert_eq!(
        found, expected,
        "each once, though two roots reach the project"
    );
    let env = crate::inventory::python::scan_env(
        &canon(&home.join("miniconda3/envs/qc")),
        EnvKind::Conda,
    );
    assert_eq!(env.python.as_deref(), Some("3.10.14"));
}

#[test]
fn the_search_skips_heavy_trees_links_and_the_inside_of_environments() {
    let tmp = tempfile::tempdir().unwrap();
    let (sys, home) = (tmp.path().join("sys"), tmp.path().join("home"));
    std::fs::create_dir_all(&sys).unwrap();
    let root = home.join("work");
    venv(&root.join("node_modules/pkg/venv"), "3.11.7");
    venv(&root.join(".git/venv"), "3.11.7");
    venv(&root.join("target/venv"), "3.11.7");
    write(
        &root.join("target/CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n",
    );
    venv(&root.join("outer"), "3.11.7");
    venv(&root.join("outer/nested"), "3.11.7");
    venv(&tmp.path().join("elsewhere/venv"), "3.11.7");
    std::os::unix::fs::symlink(tmp.path().join("elsewhere"), root.join("link")).unwrap();
    // A pyvenv.cfg that is a directory does not make a venv.
    std::fs::create_dir_all(root.join("fake/pyvenv.cfg")).unwrap();
    let found = find(&sys, &home, std::slice::from_ref(&root), 4);
    assert_eq!(
        found.into_keys().collect::<Vec<_>>(),
        vec![canon(&root.join("outer"))]
    );
}

#[test]
fn the_search_stops_at_max_depth() {
    let tmp = tempfile::tempdir().unwrap();
    let (sys, home) = (tmp.path().join("sys"), tmp.path().join("home"));
    std::fs::create_dir_all(&sys).unwrap();
    let root = tmp.path().join("r");
    venv(&root.join("a/venv"), "3.11.7");
    venv(&root.join("a/b/c/venv"), "3.11.7");
    let depth = |d| find(&sys, &home, std::slice::from_ref(&root), d).len();
    assert_eq!((depth(0), depth(1), depth(2), depth(3)), (0, 0, 1, 1));
    assert_eq!(depth(4), 2);
    // A root that is itself a venv is found at depth 0.
    assert_eq!(find(&sys, &home, &[root.join("a/venv")], 0).len(), 1);
}

#[test]
fn system_prefixes_need_site_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let (sys, home) = (tmp.path().join("sys"), tmp.path().join("home"));
    std::fs::create_dir_all(sys.join("usr/lib/python3/dist-packages")).unwrap();
    std::fs::create_dir_all(sys.join("usr/lib/python3.11")).unwrap();
    std::fs::create_dir_all(sys.join("usr/local/lib/python3.11")).unwrap();
    // pyenv installs count as system installations.
    std::fs::create_dir_all(home.join(".pyenv/versions/3.12.1/lib/python3.12/site-packages"))
        .unwrap();
    let found = find(&sys, &home, &[], 4);
    assert_eq!(
        found,
        [
            (canon(&sys.join("usr")), EnvKind::System),
            (canon(&home.join(".pyenv/versions/3.12.1")), EnvKind::System),
        ]
        .into_iter()
        .collect()
    );
    let usr = crate::inventory::python::scan_env(&canon(&sys.join("usr")), EnvKind::System);
    assert_eq!(usr.python.as_deref(), Some("3.11"));
    assert_eq!(
        usr.site_packages,
        vec![canon(&sys.join("usr/lib/python3/dist-packages")).to_string_lossy()]
    );
}

#[test]
fn python3_on_path_gives_its_prefix_and_a_venvs_own() {
    let tmp = tempfile::tempdir().unwrap();
    let (sys, home) = (tmp.path().join("sys"), tmp.path().join("home"));
    let base = tmp.path().join("opt/python");
    std::fs::create_dir_all(base.join("lib/python3.13/site-packages")).unwrap();
    write(&base.join("bin/python3.13"), "");
    std::os::unix::fs::symlink("python3.13", base.join("bin/python3")).unwrap();
    let env = tmp.path().join("v");
    venv(&env, "3.13.1");
    std::fs::create_dir_all(env.join("bin")).unwrap();
    std::os::unix::fs::symlink(base.join("bin/python3"), env.join("bin/python3")).unwrap();
    let path = std::env::join_paths([tmp.path().join("nothing"), env.join("bin")]).unwrap();
    let places = Places {
        system_root: &sys,
        home: &home,
        path_var: Some(&path),
        roots: &[],
        max_depth: 4,
    };
    let (found, _) = discover(&places);
    assert_eq!(
        found,
        [
            (canon(&base), EnvKind::System),
            (canon(&env), EnvKind::Venv)
        ]
        .into_iter()
        .collect()
    );
}
