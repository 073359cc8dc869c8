//! The deploy targets, one module each, all behind [`crate::Target`].

pub mod docker;
pub mod elastic_beanstalk;
