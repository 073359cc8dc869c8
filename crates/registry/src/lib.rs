//! Registry access shared by containerize and push-image: image references, the
//! contract's plain-HTTP rule, credentials in the contract's order, and manifest and
//! blob transfer over `oci-client`, and ECR's login (push-image, containerize and deploy share it).

pub mod auth;
pub mod client;
pub mod ecr;
pub mod media;
pub mod push;
pub mod reference;
pub mod referrers;
pub mod retry;
mod tls;
pub mod token;

pub use auth::{AuthSource, Credentials};
pub use client::{PulledManifest, Registry, RegistryError, RegistryOptions};
pub use reference::{ImageReference, is_loopback_registry};
