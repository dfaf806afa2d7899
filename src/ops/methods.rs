//! The fixed list of the server's gRPC methods, read once from the
//! descriptor sets it serves, so that metric labels and span names come
//! from this list and never from a request's path: an unknown path is one
//! label value, `unknown`, however many different paths clients send.

use std::{collections::HashMap, sync::OnceLock};

use prost::Message;

/// One method, with the labels of the `grpc_server_*` metrics.
#[derive(Debug, PartialEq, Eq)]
pub struct Method {
    /// Position in [`Methods::all`]; the unknown method is last.
    pub index: usize,
    /// `learning.v1.BudgetService`
    pub service: &'static str,
    /// `UpdateExplorationBudget`
    pub name: &'static str,
    pub kind: CallKind,
}

/// The `grpc_type` label, spelled as go-grpc-prometheus does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    Unary,
    ClientStream,
    ServerStream,
    BidiStream,
    Unknown,
}

impl CallKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Unary => "unary",
            Self::ClientStream => "client_stream",
            Self::ServerStream => "server_stream",
            Self::BidiStream => "bidi_stream",
            Self::Unknown => "unknown",
        }
    }

    /// The server sends a stream of messages (its subscribers are counted).
    pub fn streams_responses(self) -> bool {
        matches!(self, Self::ServerStream | Self::BidiStream)
    }
}

pub const UNKNOWN: &str = "unknown";

pub struct Methods {
    all: Vec<Method>,
    by_path: HashMap<&'static str, usize>,
}

impl Methods {
    /// Every method the server serves: learning.v1, health and reflection.
    pub fn served() -> &'static Methods {
        static SERVED: OnceLock<Methods> = OnceLock::new();
        SERVED.get_or_init(|| {
            Methods::from_descriptor_sets(&[
                crate::pb::FILE_DESCRIPTOR_SET,
                tonic_health::pb::FILE_DESCRIPTOR_SET,
                tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            ])
        })
    }

    /// The strings are leaked: the list is built once per process.
    fn from_descriptor_sets(sets: &[&[u8]]) -> Self {
        let mut all = Vec::new();
        let mut by_path = HashMap::new();
        for encoded in sets {
            // Compiled into the binary by the build, so it always decodes.
            let Ok(set) = prost_types::FileDescriptorSet::decode(*encoded) else {
                continue;
            };
            for file in set.file {
                let package = file.package.unwrap_or_default();
                for service in file.service {
                    let service_name: &'static str =
                        leak(format!("{package}.{}", service.name.unwrap_or_default()));
                    for method in service.method {
                        let name = leak(method.name.unwrap_or_default());
                        let kind = match (
                            method.client_streaming.unwrap_or(false),
                            method.server_streaming.unwrap_or(false),
                        ) {
                            (false, false) => CallKind::Unary,
                            (true, false) => CallKind::ClientStream,
                            (false, true) => CallKind::ServerStream,
                            (true, true) => CallKind::BidiStream,
                        };
                        let path = leak(format!("/{service_name}/{name}"));
                        if by_path.contains_key(path) {
                            continue;
                        }
                        by_path.insert(path, all.len());
                        all.push(Method {
                            index: all.len(),
                            service: service_name,
                            name,
                            kind,
                        });
                    }
                }
            }
        }
        all.push(Method {
            index: all.len(),
            service: UNKNOWN,
            name: UNKNOWN,
            kind: CallKind::Unknown,
        });
        Self { all, by_path }
    }

    /// Every method, the unknown one last.
    pub fn all(&self) -> &[Method] {
        &self.all
    }

    /// The method of a request path (`/package.Service/Method`), or the unknown one.
    pub fn of_path(&self, path: &str) -> &Method {
        let index = self
            .by_path
            .get(path)
            .copied()
            .unwrap_or(self.all.len() - 1);
        &self.all[index]
    }
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_the_served_methods_and_the_rest_to_unknown() {
        let methods = Methods::served();
        let update = methods.of_path("/learning.v1.BudgetService/UpdateExplorationBudget");
        assert_eq!(update.service, "learning.v1.BudgetService");
        assert_eq!(update.name, "UpdateExplorationBudget");
        assert_eq!(update.kind, CallKind::Unary);
        let watch = methods.of_path("/learning.v1.BudgetService/WatchExplorationBudget");
        assert_eq!(watch.kind, CallKind::ServerStream);
        let health = methods.of_path("/grpc.health.v1.Health/Check");
        assert_eq!(health.kind, CallKind::Unary);
        let reflection =
            methods.of_path("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
        assert_eq!(reflection.kind, CallKind::BidiStream);
        for path in [
            "/nope.Service/Method",
            "/",
            "",
            "/learning.v1.BudgetService/",
        ] {
            let unknown = methods.of_path(path);
            assert_eq!(
                (unknown.service, unknown.name),
                (UNKNOWN, UNKNOWN),
                "{path}"
            );
            assert_eq!(unknown.index, methods.all().len() - 1);
        }
        assert!(methods.all().len() > 20, "{}", methods.all().len());
    }
}
