//! backupmx-smtp: the SMTP protocol core — command and reply parsing, addresses, line framing and the
//! DATA scanner. Pure: no I/O, no async, no clock; everything here is tested and fuzzed in isolation.

pub mod address;
pub mod command;
pub mod data;
pub mod line;
pub mod reply;

pub use address::{AddressError, Mailbox};
pub use command::{
    BodyType, Command, ForwardPath, MailParams, Notify, ParseError, RcptParams, Ret, ReversePath,
    parse_command,
};
pub use data::{DataError, DataProgress, DataScanner};
pub use line::{LineError, LineFramer, MAX_COMMAND_LINE, MAX_TEXT_LINE};
pub use reply::{EnhancedCode, MAX_REPLY, MAX_REPLY_LINE, Reply, ReplyError, ReplyParser};
