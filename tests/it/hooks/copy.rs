//! What a new worktree gets copied from the main worktree.

use super::*;

#[test]
fn an_ignored_env_and_a_folder_named_in_worktreeinclude_are_copied() {
    let repo = repo_with("[worktree]\ncopy = [\".env\"]\n");
    std::fs::write(
        repo.path().join(".worktreeinclude"),
        "# dependencies\nnode_modules\n",
    )
    .unwrap();
    repo.git(&["add", ".worktreeinclude"]);
    repo.git(&["commit", "-q", "-m", "include"]);
    let main = repo.path();
    std::fs::write(main.join(".env"), "SECRET=1\n").unwrap();
    std::fs::create_dir_all(main.join("node_modules/pkg")).unwrap();
    std::fs::create_dir_all(main.join("node_modules/.bin")).unwrap();
    std::fs::write(
        main.join("node_modules/pkg/index.js"),
        "module.exports = 1;\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../pkg/index.js", main.join("node_modules/.bin/tool")).unwrap();
    // Ignored, but named by no pattern: left where they are.
    std::fs::create_dir_all(main.join("build")).unwrap();
    std::fs::write(main.join("build/out.o"), "object").unwrap();
    std::fs::write(main.join("debug.log"), "log").unwrap();
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "all of it is ignored"
    );

    let (doc, run) = launch(&repo, "feature/copy", &[]);
    let wt = worktree_of(&doc);
    assert_eq!(
        std::fs::read_to_string(wt.join(".env")).unwrap(),
        "SECRET=1\n"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("node_modules/pkg/index.js")).unwrap(),
        "module.exports = 1;\n"
    );
    // A link inside the repository stays a link, as it was written.
    let tool = wt.join("node_modules/.bin/tool");
    assert!(
        std::fs::symlink_metadata(&tool)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_link(&tool).unwrap(),
        Path::new("../pkg/index.js")
    );
    assert_eq!(
        std::fs::read_to_string(&tool).unwrap(),
        "module.exports = 1;\n"
    );
    assert!(!wt.join("build").exists(), "build/ is named by no pattern");
    assert!(
        !wt.join("debug.log").exists(),
        "debug.log is named by no pattern"
    );
    // What was copied is ignored there too: git sees a clean worktree.
    assert_eq!(status(&repo, &wt), "");
    assert_eq!(warnings_of(&doc), Vec::<String>::new(), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("pm: copied .env, node_modules from the main worktree"),
        "{}",
        run.stderr
    );
    // The main worktree is as it was.
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    assert!(main.join("build/out.o").exists());

    let id = id_of(&doc);
    let shown = repo.pm_json(&["agent", "show", &id]);
    assert_eq!(shown["setup"]["state"], "succeeded", "{shown}");
    assert_eq!(
        shown["setup"]["copied"],
        serde_json::json!([".env", "node_modules"])
    );
    let events = run_events(&repo, &id);
    assert!(
        events.iter().any(|e| e["kind"] == "hook_ended"
            && e["hook"] == "copy"
            && e["outcome"] == "succeeded"
            && e["detail"]
                .as_str()
                .unwrap()
                .starts_with("copied .env, node_modules")),
        "{events:?}"
    );
}

#[test]
fn a_file_the_branch_tracks_is_never_overwritten() {
    let repo = repo_with("[worktree]\ncopy = [\".env\"]\n");
    // The branch tracks an .env of its own (added despite the ignore rule).
    repo.git(&["checkout", "-q", "-b", "feature/own-env"]);
    std::fs::write(repo.path().join(".env"), "FROM=branch\n").unwrap();
    repo.git(&["add", "-f", ".env"]);
    repo.git(&["commit", "-q", "-m", "the branch's own .env"]);
    repo.git(&["checkout", "-q", "main"]);
    std::fs::write(repo.path().join(".env"), "FROM=main\n").unwrap();

    let (doc, _) = launch(&repo, "feature/own-env", &[]);
    let wt = worktree_of(&doc);
    assert_eq!(
        std::fs::read_to_string(wt.join(".env")).unwrap(),
        "FROM=branch\n"
    );
    assert_eq!(status(&repo, &wt), "", "the tracked file is untouched");
}

#[test]
fn a_symbolic_link_leading_outside_the_repository_is_not_followed() {
    let repo = repo_with("[worktree]\ncopy = [\"link-out\", \"node_modules\"]\n");
    let outside = repo.scratch_dir("outside");
    std::fs::write(outside.join("secret.txt"), "top secret\n").unwrap();
    let main = repo.path();
    // An ignored link named by `copy` itself, and one inside a copied folder.
    std::os::unix::fs::symlink(&outside, main.join("link-out")).unwrap();
    std::fs::create_dir_all(main.join("node_modules")).unwrap();
    std::os::unix::fs::symlink("../../outside/secret.txt", main.join("node_modules/evil")).unwrap();
    std::fs::write(main.join("node_modules/ok.js"), "ok\n").unwrap();

    let (doc, run) = launch(&repo, "feature/links", &[]);
    let wt = worktree_of(&doc);
    assert!(
        std::fs::symlink_metadata(wt.join("link-out")).is_err(),
        "link-out was made"
    );
    assert!(
        std::fs::symlink_metadata(wt.join("node_modules/evil")).is_err(),
        "node_modules/evil was made"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("node_modules/ok.js")).unwrap(),
        "ok\n"
    );
    // Nothing of what lies outside reached the worktree.
    let mut found = Vec::new();
    collect_files(&wt, &mut found);
    for file in &found {
        let text = std::fs::read(file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&text).contains("top secret"),
            "{}",
            file.display()
        );
    }
    let warnings = warnings_of(&doc);
    assert!(
        warnings.iter().any(|w| w.contains(
            "link-out is a symbolic link leading outside the repository; it is not followed"
        ) && w.contains("node_modules/evil")),
        "{warnings:?}"
    );
    assert_eq!(
        run.stderr.matches("warning: not copied").count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(status(&repo, &wt), "");
}

#[test]
fn a_folder_holding_another_worktree_is_never_copied() {
    // Worktrees inside the main worktree, in an ignored folder that `copy` names.
    let repo = repo_with(
        "worktree_dir = \"{repo}/.wt/{branch}\"\n[worktree]\ncopy = [\".wt\", \".env\"]\n",
    );
    std::fs::write(repo.path().join(".gitignore"), ".env\n.wt/\n").unwrap();
    repo.git(&["commit", "-q", "-am", "ignore .wt"]);
    std::fs::write(repo.path().join(".env"), "A=1\n").unwrap();
    let (first, _) = launch(&repo, "one", &[]);
    assert!(worktree_of(&first).starts_with(repo.path().join(".wt")));
    let (second, _) = launch(&repo, "two", &[]);
    let wt = worktree_of(&second);
    assert!(
        !wt.join(".wt").exists(),
        "a worktree was copied into another"
    );
    assert_eq!(std::fs::read_to_string(wt.join(".env")).unwrap(), "A=1\n");
    assert!(
        warnings_of(&second)
            .iter()
            .any(|w| w.contains(".wt holds a worktree; it is not copied")),
        "{second}"
    );
    assert_eq!(status(&repo, &wt), "");
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_name() == ".git" {
            continue;
        }
        let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
        if kind.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}
