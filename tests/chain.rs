//! The chain as data (`slipway_contract::keys`) against the steps' real clap definitions,
//! without building or running anything: each input that consumes an earlier step's output
//! has that output's dotenv key as its environment twin, and no other output's dotenv key is
//! a later step's environment twin by accident.

#![allow(clippy::unwrap_used)] // A test panics on a broken fixture.

use clap::{Command, CommandFactory as _};
use slipway_contract::keys::{CHAIN, LINKS};

/// A step's command line, from its library: the binary's own clap definition.
fn command(step: &str) -> Command {
    match step {
        "build-jar" => slipway_build_jar::Cli::command(),
        "containerize" => slipway_containerize::Cli::command(),
        "push-image" => slipway_push_image::Cli::command(),
        "deploy" => slipway_deploy::Cli::command(),
        "verify" => slipway_verify::Cli::command(),
        other => panic!("no step {other}"),
    }
}

/// `(flag, environment twin)` of every flag of `step` that has one.
fn env_twins(step: &str) -> Vec<(String, String)> {
    command(step)
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_str().unwrap().to_owned();
            Some((arg.get_long().unwrap_or(arg.get_id().as_str()).to_owned(), env))
        })
        .collect()
}

#[test]
fn each_input_that_consumes_an_output_has_its_dotenv_key_as_environment_twin() {
    for link in LINKS {
        let twins = env_twins(link.to);
        let (_, env) = twins.iter().find(|(flag, _)| flag == link.flag).unwrap_or_else(|| {
            panic!("{} has no flag --{} (it consumes {}'s {})", link.to, link.flag, link.from, link.output.key)
        });
        assert_eq!(
            env, link.output.dotenv,
            "{} --{}'s environment twin is not {}'s `{}` output as a dotenv report names it",
            link.to, link.flag, link.from, link.output.key
        );
    }
}

#[test]
fn no_output_feeds_a_later_step_unless_it_is_a_link() {
    for (position, producer) in CHAIN.iter().enumerate() {
        for consumer in &CHAIN[position + 1..] {
            for (flag, env) in env_twins(consumer.step) {
                let Some(output) = producer.outputs.iter().find(|output| output.dotenv == env) else {
                    continue;
                };
                let declared = LINKS.iter().any(|link| {
                    link.from == producer.step
                        && link.output == *output
                        && link.to == consumer.step
                        && link.flag == flag
                });
                assert!(
                    declared,
                    "{}'s `{}` output ({env} in a dotenv report) would set {} --{flag}: add it to \
                     slipway_contract::keys::LINKS if it is meant to, or rename one of them",
                    producer.step, output.key, consumer.step
                );
            }
        }
    }
}

#[test]
fn each_steps_help_names_its_outputs() {
    for entry in CHAIN {
        let help = command(entry.step).render_long_help().to_string();
        let words: Vec<&str> = help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).collect();
        for output in entry.outputs {
            assert!(
                words.contains(&output.key),
                "{} --help does not name its output `{}`:\n{help}",
                entry.step,
                output.key
            );
        }
    }
}
