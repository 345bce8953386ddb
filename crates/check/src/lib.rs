//! Health checkers (TCP, HTTP, SSL, SMTP, MISC, DNS, UDP, PING, FILE) and their pure
//! up/down/retry logic, quorum and hysteresis. (Later issues.)
