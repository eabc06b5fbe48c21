//! Encoding of control messages (MessagePack, named fields) and JSON records, with a size cap on
//! everything decoded so that an oversized message is an error, not an allocation.

use serde::{de::DeserializeOwned, Serialize};

/// Name of the header that says how a payload is encoded.
pub const CONTENT_TYPE: &str = "Content-Type";
pub const CONTENT_TYPE_MSGPACK: &str = "application/msgpack";
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// Largest control message accepted (a client outcome carries up to ~1.1 MiB of output).
pub const MAX_CONTROL_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("message is {0} bytes, larger than the {MAX_CONTROL_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("message has Content-Type {0:?}, expected {CONTENT_TYPE_MSGPACK:?}")]
    WrongContentType(String),
    #[error("message is not valid netbench MessagePack: {0}")]
    Invalid(#[from] rmp_serde::decode::Error),
}

/// Encode a control message as MessagePack with field names.
pub fn encode_control<T: Serialize>(value: &T) -> Vec<u8> {
    // Our own types always serialize; a failure here is a programming error.
    rmp_serde::to_vec_named(value).expect("control messages always serialize")
}

/// Decode a control message. `content_type` is the header value, if the message had one;
/// a missing header is accepted (the payload is then checked as MessagePack anyway).
pub fn decode_control<T: DeserializeOwned>(
    content_type: Option<&str>,
    payload: &[u8],
) -> Result<T, DecodeError> {
    if payload.len() > MAX_CONTROL_BYTES {
        return Err(DecodeError::TooLarge(payload.len()));
    }
    if let Some(ct) = content_type {
        if ct != CONTENT_TYPE_MSGPACK {
            return Err(DecodeError::WrongContentType(
                ct.chars().take(100).collect(),
            ));
        }
    }
    Ok(rmp_serde::from_slice(payload)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::*;

    #[test]
    fn control_messages_round_trip_and_ignore_unknown_fields() {
        let req = TaskRequest::StopServer {
            run: "r1".parse().unwrap(),
            pair: "a--b".into(),
        };
        let bytes = encode_control(&req);
        let back: TaskRequest = decode_control(Some(CONTENT_TYPE_MSGPACK), &bytes).unwrap();
        assert_eq!(back, req);

        // A newer peer adds a field: older peers still decode the message.
        #[derive(serde::Serialize)]
        struct Newer<'a> {
            r#type: &'a str,
            run: &'a str,
            pair: &'a str,
            priority: u8,
        }
        let newer = rmp_serde::to_vec_named(&Newer {
            r#type: "stop_server",
            run: "r1",
            pair: "a--b",
            priority: 3,
        })
        .unwrap();
        let back: TaskRequest = decode_control(None, &newer).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn tasks_with_addresses_round_trip() {
        let spec = CommandSpec {
            run: "r1".parse().unwrap(),
            pair: "a--b".into(),
            benchmark: "iperf3-tcp".into(),
            command: "iperf3".into(),
            args: vec!["-s".into()],
            params: TaskParams {
                server_ip: "fd00::2".parse().unwrap(),
                duration_seconds: 3,
                parameters: Default::default(),
            },
            timeout_seconds: 20,
        };
        for req in [
            TaskRequest::StartServer(spec.clone()),
            TaskRequest::RunClient(spec),
        ] {
            let back: TaskRequest = decode_control(None, &encode_control(&req)).unwrap();
            assert_eq!(back, req);
        }
    }

    #[test]
    fn garbage_wrong_types_and_oversize_are_errors() {
        let bad: &[&[u8]] = &[
            b"",
            b"\xc1",
            b"{\"type\":\"stop_server\"}",
            &[0x92, 0x01, 0x02],
        ];
        for b in bad {
            assert!(
                decode_control::<TaskRequest>(None, b).is_err(),
                "{b:?} decoded"
            );
        }
        let huge = vec![0u8; MAX_CONTROL_BYTES + 1];
        assert!(matches!(
            decode_control::<TaskRequest>(None, &huge),
            Err(DecodeError::TooLarge(_))
        ));
        let ok = encode_control(&TaskRequest::StopServer {
            run: "r1".parse().unwrap(),
            pair: "p".into(),
        });
        assert!(matches!(
            decode_control::<TaskRequest>(Some("text/plain"), &ok),
            Err(DecodeError::WrongContentType(_))
        ));
        // Every truncation of a valid message fails cleanly instead of panicking.
        for n in 0..ok.len() {
            assert!(decode_control::<TaskRequest>(None, &ok[..n]).is_err());
        }
    }
}
