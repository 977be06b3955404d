//! Liveness: what runs is observed, never claimed. A killed supervisor is noticed by the next
//! listing, a killed agent is recorded by its supervisor, and a pid reused by an unrelated
//! process is neither taken for the run nor killed.

use super::*;

#[test]
fn a_killed_supervisor_is_noticed_by_the_next_list_and_its_agent_group_is_stopped() {
    let lab = Lab::new();
    for round in 0..5 {
        let id = lab.launch_run(&format!("round-{round}"), "echo", &["--prompt", "hello"]);
        lab.wait_log_line(&id, "reply: hello");
        let (pid, supervisor) = lab.pids(&id);
        wait_group_size(pid, 2);
        let run_file = lab.run_dir(&id).join("run.json");
        let run: Value = serde_json::from_str(&std::fs::read_to_string(&run_file).unwrap())
            .expect("run.json is JSON");
        let socket = PathBuf::from(run["socket"].as_str().expect("a control socket"));
        assert!(socket.exists(), "{}", socket.display());

        signal(supervisor, libc::SIGKILL);
        if round == 4 {
            // What a supervisor that failed on its own wrote last (a panic, say) is its reason.
            std::fs::write(
                lab.run_dir(&id).join("supervisor.err"),
                "\nthread 'main' panicked at src/x.rs:1:1:\nsomething \u{1b}[31mbroke\n\n",
            )
            .unwrap();
        }
        wait_for("the supervisor to die", || {
            if alive(supervisor) {
                Err(format!("{:?}", proc_stat(supervisor)))
            } else {
                Ok(())
            }
        });
        assert_eq!(lab.run_of(&id)["state"], "dead", "round {round}");
        assert_eq!(
            lab.status(&id),
            "active",
            "round {round}: nothing noticed yet"
        );

        // The next listing says so, makes the session idle, and stops the orphaned group.
        let list = lab.pm(&["agent", "list"]).ok();
        let warning =
            format!("warning: the agent supervisor of session {id} died; the session is idle");
        assert!(
            list.stderr.lines().any(|l| l == warning),
            "round {round}: {}",
            list.stderr
        );
        let row = list
            .stdout
            .lines()
            .find(|l| l.contains(&format!("round-{round}")))
            .unwrap_or_else(|| panic!("round {round}: no row in\n{}", list.stdout));
        assert!(row.contains("\tidle\t"), "round {round}: {row}");
        assert!(!row.contains("running"), "round {round}: {row}");
        assert_eq!(lab.status(&id), "idle", "round {round}");
        let log = lab.record_log(&id);
        assert_eq!(log.lines().next(), Some("exit: active -> idle"), "{log}");
        let events = lab.events(&id);
        let last = events.last().expect("events");
        assert_eq!(last["kind"], "died", "round {round}: {events:?}");
        // A supervisor killed from outside leaves nothing on its stderr: the reason is a guess.
        let why = if round == 4 {
            "the supervisor was gone; it last said: something broke"
        } else {
            "the supervisor was gone (killed, or the machine stopped)"
        };
        assert_eq!(last["why"], why, "round {round}: {last}");
        // What the agent did is kept in git all the same, as a turn that died.
        let turn = lab.git(&["show", &format!("refs/pm/runs/{id}:turn.json")]);
        assert!(
            turn.contains("\"outcome\": \"died\""),
            "round {round}: {turn}"
        );
        assert!(turn.contains("reply: hello"), "round {round}: {turn}");
        wait_group_gone(pid);
        assert_eq!(lab.run_of(&id)["state"], "exited", "round {round}");
        assert!(
            !socket.exists(),
            "the dead run's socket is left: {}",
            socket.display()
        );

        // Said once: the next listing has nothing more to say.
        let again = lab.pm(&["agent", "list"]).ok();
        assert_eq!(again.stderr, "", "round {round}");
    }
}

#[test]
fn a_killed_agent_is_recorded_by_its_supervisor_and_the_session_becomes_idle() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    let (pid, supervisor) = lab.pids(&id);
    wait_group_size(pid, 2);

    // Only the agent itself: the `sleep` it started stays in its group.
    signal(pid, libc::SIGKILL);
    let run = lab.wait_run_ended(&id);
    assert_eq!(run["state"], "exited", "{run}");
    assert_eq!(run["exit_code"], Value::Null, "{run}");
    lab.wait_status(&id, "idle");
    let events = lab.events(&id);
    let last = events.last().expect("events");
    assert_eq!(last["kind"], "exited", "{events:?}");
    assert_eq!(last["signal"], 9, "{last}");
    assert_eq!(last["code"], Value::Null, "{last}");
    assert!(lab.logs(&id).contains("[ended by signal 9]"));
    let log = lab.record_log(&id);
    assert_eq!(log.lines().next(), Some("exit: active -> idle"), "{log}");
    // The supervisor ends, and leaves nothing of the agent's group running.
    wait_for("the supervisor to exit", || {
        if alive(supervisor) {
            Err(format!("{:?}", proc_stat(supervisor)))
        } else {
            Ok(())
        }
    });
    wait_group_gone(pid);
}

#[test]
fn a_pid_reused_by_an_unrelated_process_is_taken_for_dead_and_left_alone() {
    let lab = Lab::new();
    let id = lab.launch_run("b", "echo", &["--prompt", "hello"]);
    lab.wait_log_line(&id, "reply: hello");
    let (pid, supervisor) = lab.pids(&id);
    let run_file = lab.run_dir(&id).join("run.json");

    // The run is gone without a word (supervisor and agent killed), and two unrelated
    // processes now have the pids the run file names, with other start times.
    signal(supervisor, libc::SIGKILL);
    signal_group(pid, libc::SIGKILL);
    wait_group_gone(pid);
    let strangers = [Bystander::spawn(), Bystander::spawn()];
    let mut run: Value =
        serde_json::from_str(&std::fs::read_to_string(&run_file).unwrap()).unwrap();
    for (key, stranger) in ["supervisor", "agent_process"].iter().zip(&strangers) {
        let start = proc_stat(stranger.pid()).expect("the stranger runs").start;
        run[*key] = serde_json::json!({"pid": stranger.pid(), "start": start + 1});
    }
    std::fs::write(&run_file, serde_json::to_string_pretty(&run).unwrap()).unwrap();

    // A live process under the supervisor's pid is not the supervisor.
    let shown = lab.run_of(&id);
    assert_eq!(shown["state"], "dead", "{shown}");
    assert_eq!(shown["supervisor_pid"], Value::Null, "{shown}");
    let list = lab.pm(&["agent", "list"]).ok();
    assert!(
        list.stderr.contains(&format!(
            "the agent supervisor of session {id} died; the session is idle"
        )),
        "{}",
        list.stderr
    );
    assert_eq!(lab.status(&id), "idle");
    assert_eq!(lab.events(&id).last().unwrap()["kind"], "died");
    // Neither stranger was killed.
    std::thread::sleep(Duration::from_millis(200));
    for stranger in &strangers {
        assert!(alive(stranger.pid()), "an unrelated process was killed");
    }
}
