//! Every fixed SMTP reply the inbound side sends, in one place, each with its RFC 3463 enhanced code.
//!
//! RFC 2034 §3 exempts the greeting, the EHLO/HELO answer and 3xx replies (class 3 does not exist in
//! RFC 3463): those carry no enhanced code; every 2xx, 4xx and 5xx reply does.

use backupmx_smtp::{DataError, EnhancedCode, LineError, Reply};

use crate::envelope::QueueId;

/// A one-line reply with an enhanced code.
pub fn reply(code: u16, class: u8, subject: u16, detail: u16, text: impl Into<String>) -> Reply {
    Reply::new(code, EnhancedCode(class, subject, detail), text)
}

/// A one-line reply without an enhanced code (greeting, HELO, 354).
pub fn plain(code: u16, text: impl Into<String>) -> Reply {
    Reply {
        code,
        enhanced: None,
        lines: vec![text.into()],
    }
}

pub fn greeting(hostname: &str) -> Reply {
    plain(220, format!("{hostname} ESMTP backupmx"))
}

pub fn ok() -> Reply {
    reply(250, 2, 0, 0, "Ok")
}

pub fn bad_sequence(text: &str) -> Reply {
    reply(503, 5, 5, 1, text)
}

pub fn unknown_command() -> Reply {
    reply(500, 5, 5, 1, "Command unrecognized")
}

pub fn too_many_errors() -> Reply {
    reply(421, 4, 7, 0, "Too many errors, closing connection")
}

pub fn too_many_unknown_commands() -> Reply {
    reply(
        421,
        4,
        7,
        0,
        "Too many unknown commands, closing connection",
    )
}

/// Over `limits.messages_per_connection`: the client should reconnect for more.
pub fn too_many_messages() -> Reply {
    reply(
        451,
        4,
        7,
        1,
        "Too many messages in this connection, reconnect to send more",
    )
}

/// Over `limits.recipients_per_minute` for this client address.
pub fn recipient_rate_exceeded() -> Reply {
    reply(
        452,
        4,
        7,
        1,
        "Too many recipients from your address, try again later",
    )
}

/// Over `limits.max_connections_per_ip` or `limits.connections_per_minute`.
pub fn client_connection_limit() -> Reply {
    reply(
        421,
        4,
        7,
        0,
        "Too many connections from your address, try again later",
    )
}

/// Bytes before the (delayed) greeting: not an SMTP client that waits for its turn.
pub fn early_talker() -> Reply {
    reply(
        554,
        5,
        5,
        0,
        "Protocol error: client sent data before the greeting",
    )
}

/// `smtp.session_timeout` reached.
pub fn session_time_exceeded() -> Reply {
    reply(
        421,
        4,
        4,
        2,
        "Session time limit exceeded, closing connection",
    )
}

pub fn too_many_connections() -> Reply {
    reply(421, 4, 7, 0, "Too many connections, try again later")
}

pub fn command_timeout() -> Reply {
    reply(421, 4, 4, 2, "Timeout exceeded, closing connection")
}

pub fn shutting_down() -> Reply {
    reply(421, 4, 3, 2, "Server shutting down, try again later")
}

pub fn message_too_big() -> Reply {
    reply(
        552,
        5,
        3,
        4,
        "Message size exceeds fixed maximum message size",
    )
}

/// A message could not be made durable (spool write or commit failed): the client retries later.
pub fn storage_failure() -> Reply {
    reply(452, 4, 3, 1, "Insufficient system storage, try again later")
}

/// The shared queue's database is unreachable: nothing was committed, the client must retry.
pub fn queue_unavailable() -> Reply {
    reply(
        451,
        4,
        3,
        0,
        "Queue temporarily unavailable, try again later",
    )
}

/// The reply for a message the spool could not take.
pub fn spool_failure(error: &crate::spool::SpoolError) -> Reply {
    match error {
        crate::spool::SpoolError::Unavailable(_) | crate::spool::SpoolError::Closed => {
            queue_unavailable()
        }
        _ => storage_failure(),
    }
}

pub fn queued(id: QueueId) -> Reply {
    reply(250, 2, 0, 0, format!("Ok: queued as {id}"))
}

/// A command line the framer refused: it never reaches the parser.
pub fn line_error(error: &LineError) -> Reply {
    let text = match error {
        LineError::TooLong => "Line too long",
        LineError::BareLineEnd => "Bare CR or LF in command line",
        LineError::Nul => "NUL byte in command line",
    };
    reply(500, 5, 5, 2, text)
}

/// The verdict on a received message body. Line-length refusals use 550 5.6.0 like the other content
/// refusals: RFC 3463 has no code for "text line too long" (5.5.6 is AUTH's, RFC 4954).
pub fn data_error(error: &DataError) -> Reply {
    match error {
        DataError::TooBig => message_too_big(),
        DataError::BareLineEnd => reply(550, 5, 6, 0, "bare CR or LF in message, refused"),
        DataError::Nul => reply(550, 5, 6, 0, "NUL byte in message, refused"),
        DataError::LineTooLong => reply(
            550,
            5,
            6,
            0,
            "Message line longer than 998 characters, refused",
        ),
    }
}
