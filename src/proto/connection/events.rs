//! The events parsed but not yet handed out. Parsing stops at each event, so there is almost
//! always at most one: it sits inline, and only a second one (a close or timeout arriving while
//! a message waits to be taken) goes to a heap queue. An idle connection holds no allocation
//! for its events, where a `VecDeque<Event>` would keep four slots (416 bytes) from its first
//! event on.
#![forbid(unsafe_code)]

use alloc::collections::VecDeque;

use super::Event;

/// First in, first out. Invariant: `later` is empty whenever `next` is `None`.
#[derive(Debug, Default)]
pub(super) struct EventQueue {
    next: Option<Event>,
    later: VecDeque<Event>,
}

impl EventQueue {
    pub(super) fn is_empty(&self) -> bool {
        self.next.is_none()
    }

    pub(super) fn push_back(&mut self, event: Event) {
        if self.next.is_none() {
            self.next = Some(event);
        } else {
            self.later.push_back(event);
        }
    }

    pub(super) fn pop_front(&mut self) -> Option<Event> {
        if self.later.is_empty() {
            return self.next.take();
        }
        let after = self.later.pop_front();
        core::mem::replace(&mut self.next, after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::message::Message;
    use bytes::Bytes;

    fn msg(n: u8) -> Event {
        Event::Message(Message::Binary(Bytes::copy_from_slice(&[n])))
    }

    #[test]
    fn first_in_first_out_across_the_inline_slot() {
        let mut q = EventQueue::default();
        assert!(q.is_empty());
        assert_eq!(q.pop_front(), None);
        // Interleave pushes and pops so events pass through both the slot and the heap queue.
        let mut expect = 0u8;
        let mut next = 0u8;
        for round in 0..20u8 {
            for _ in 0..(round % 4) {
                q.push_back(msg(next));
                next += 1;
            }
            if let Some(e) = q.pop_front() {
                assert_eq!(e, msg(expect));
                expect += 1;
            }
        }
        while let Some(e) = q.pop_front() {
            assert_eq!(e, msg(expect));
            expect += 1;
        }
        assert_eq!(expect, next);
        assert!(q.is_empty());
    }

    #[test]
    fn one_event_at_a_time_allocates_nothing() {
        let mut q = EventQueue::default();
        for n in 0..10 {
            q.push_back(msg(n));
            assert_eq!(q.pop_front(), Some(msg(n)));
        }
        assert_eq!(q.later.capacity(), 0);
    }
}
