pub mod deflate_echo;
pub mod echo;
pub mod fanout;
pub mod idle;
pub mod longpoll;
pub mod poll;
pub mod publish;
