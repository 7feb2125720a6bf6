//! The order's life as one state machine. Every service that changes or mirrors an order's status
//! asks [`OrderStatus::apply`], so "what may happen to an order now" has exactly one answer.
//!
//! ```text
//!                   pay ──► Paid ──pay──► (overpaid: money to refund, status stays)
//!                  /
//! AwaitingPayment ──cancel──► Cancelled ──pay──► (overpaid)
//!                  \
//!                   expire ──► Expired ──pay──► (overpaid)
//!
//! Paid ──refund (the payment was cancelled at PortOne)──► Cancelled
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    AwaitingPayment,
    Paid,
    Cancelled,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    BankTransfer,
    Cvs,
    Card,
    /// A PortOne virtual account (가상계좌): one account per order, no name matching.
    Vbank,
}

/// Something that happens to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A payment arrived through the given route.
    Pay(PaymentMethod),
    /// The merchant called the order off.
    Cancel,
    /// The deposit deadline passed.
    Expire,
    /// The payment that paid the order was cancelled (refunded) at the provider.
    Refund,
}

/// What applying a transition means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// The status changes to the given one.
    Moved(OrderStatus),
    /// Nothing changes and nothing is owed: the transition had already happened.
    Unchanged,
    /// A payment arrived for an order that no longer expects one: the status stays, and the money
    /// must be refunded.
    Overpaid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order that is {from} cannot be {verb}")]
pub struct TransitionError {
    pub from: OrderStatus,
    pub verb: &'static str,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 4] = [
        OrderStatus::AwaitingPayment,
        OrderStatus::Paid,
        OrderStatus::Cancelled,
        OrderStatus::Expired,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
        }
    }

    /// No transition moves an order out of these.
    pub fn is_terminal(&self) -> bool {
        matches!(self, OrderStatus::Cancelled | OrderStatus::Expired)
    }

    pub fn apply(self, transition: Transition) -> Result<TransitionOutcome, TransitionError> {
        use OrderStatus::*;
        use TransitionOutcome::*;
        match (self, transition) {
            (AwaitingPayment, Transition::Pay(_)) => Ok(Moved(Paid)),
            (Paid | Cancelled | Expired, Transition::Pay(_)) => Ok(Overpaid),
            (AwaitingPayment, Transition::Cancel) => Ok(Moved(Cancelled)),
            (Cancelled, Transition::Cancel) => Ok(Unchanged),
            (Paid | Expired, Transition::Cancel) => Err(TransitionError {
                from: self,
                verb: "cancelled",
            }),
            (AwaitingPayment, Transition::Expire) => Ok(Moved(Expired)),
            // Expiry races with payment and cancellation; whichever came first stands.
            (Paid | Cancelled | Expired, Transition::Expire) => Ok(Unchanged),
            (Paid, Transition::Refund) => Ok(Moved(Cancelled)),
            (AwaitingPayment | Cancelled | Expired, Transition::Refund) => Ok(Unchanged),
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// Never shows the text it was given: it is the caller's (see `json::key_for_message`).
#[error("not one of the known values")]
pub struct UnknownVariant(pub String);

impl FromStr for OrderStatus {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

impl PaymentMethod {
    pub const ALL: [PaymentMethod; 4] = [
        PaymentMethod::BankTransfer,
        PaymentMethod::Cvs,
        PaymentMethod::Card,
        PaymentMethod::Vbank,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentMethod::BankTransfer => "bank_transfer",
            PaymentMethod::Cvs => "cvs",
            PaymentMethod::Card => "card",
            PaymentMethod::Vbank => "vbank",
        }
    }
}

impl fmt::Display for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentMethod {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PaymentMethod::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use OrderStatus::*;

    #[test]
    fn the_first_payment_pays_and_later_ones_are_overpaid() {
        let pay = Transition::Pay(PaymentMethod::BankTransfer);
        assert_eq!(
            AwaitingPayment.apply(pay),
            Ok(TransitionOutcome::Moved(Paid))
        );
        for s in [Paid, Cancelled, Expired] {
            assert_eq!(s.apply(pay), Ok(TransitionOutcome::Overpaid));
        }
    }

    #[test]
    fn cancel_is_idempotent_and_refused_once_paid_or_expired() {
        assert_eq!(
            AwaitingPayment.apply(Transition::Cancel),
            Ok(TransitionOutcome::Moved(Cancelled))
        );
        assert_eq!(
            Cancelled.apply(Transition::Cancel),
            Ok(TransitionOutcome::Unchanged)
        );
        assert!(Paid.apply(Transition::Cancel).is_err());
        assert_eq!(
            Expired.apply(Transition::Cancel).unwrap_err().to_string(),
            "an order that is expired cannot be cancelled"
        );
    }

    #[test]
    fn expiry_only_touches_awaiting_orders() {
        assert_eq!(
            AwaitingPayment.apply(Transition::Expire),
            Ok(TransitionOutcome::Moved(Expired))
        );
        for s in [Paid, Cancelled, Expired] {
            assert_eq!(
                s.apply(Transition::Expire),
                Ok(TransitionOutcome::Unchanged)
            );
        }
    }

    #[test]
    fn a_refund_cancels_a_paid_order_and_touches_nothing_else() {
        assert_eq!(
            Paid.apply(Transition::Refund),
            Ok(TransitionOutcome::Moved(Cancelled))
        );
        for s in [AwaitingPayment, Cancelled, Expired] {
            assert_eq!(
                s.apply(Transition::Refund),
                Ok(TransitionOutcome::Unchanged)
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>().unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        for m in PaymentMethod::ALL {
            assert_eq!(m.as_str().parse::<PaymentMethod>().unwrap(), m);
            assert_eq!(
                serde_json::to_value(m).unwrap(),
                serde_json::json!(m.as_str())
            );
        }
        assert!("bogus".parse::<OrderStatus>().is_err());
    }

    fn transition() -> impl Strategy<Value = Transition> {
        prop_oneof![
            Just(Transition::Pay(PaymentMethod::BankTransfer)),
            Just(Transition::Pay(PaymentMethod::Cvs)),
            Just(Transition::Pay(PaymentMethod::Card)),
            Just(Transition::Pay(PaymentMethod::Vbank)),
            Just(Transition::Cancel),
            Just(Transition::Expire),
            Just(Transition::Refund),
        ]
    }

    /// Runs a sequence of transitions from a new order, skipping refused ones as a service would.
    fn run(seq: &[Transition]) -> (OrderStatus, usize, usize) {
        let (mut status, mut paid, mut overpaid) = (AwaitingPayment, 0, 0);
        for t in seq {
            match status.apply(*t) {
                Ok(TransitionOutcome::Moved(next)) => {
                    if next == Paid {
                        paid += 1;
                    }
                    status = next;
                }
                Ok(TransitionOutcome::Overpaid) => overpaid += 1,
                Ok(TransitionOutcome::Unchanged) | Err(_) => {}
            }
        }
        (status, paid, overpaid)
    }

    proptest! {
        #[test]
        fn an_order_is_paid_at_most_once(seq in proptest::collection::vec(transition(), 0..30)) {
            let (_, paid, _) = run(&seq);
            prop_assert!(paid <= 1);
        }

        #[test]
        fn every_payment_is_either_applied_or_owed_back(seq in proptest::collection::vec(transition(), 0..30)) {
            let payments = seq.iter().filter(|t| matches!(t, Transition::Pay(_))).count();
            let (_, paid, overpaid) = run(&seq);
            prop_assert_eq!(paid + overpaid, payments);
        }

        #[test]
        fn terminal_states_never_move(seq in proptest::collection::vec(transition(), 1..30)) {
            let mut status = AwaitingPayment;
            for t in &seq {
                let before = status;
                if let Ok(TransitionOutcome::Moved(next)) = status.apply(*t) {
                    prop_assert!(!before.is_terminal(), "{before} moved to {next}");
                    status = next;
                }
            }
        }

        #[test]
        fn reapplying_a_transition_that_moved_never_moves_again(start in proptest::sample::select(OrderStatus::ALL.to_vec()), t in transition()) {
            if let Ok(TransitionOutcome::Moved(next)) = start.apply(t) {
                prop_assert!(!matches!(next.apply(t), Ok(TransitionOutcome::Moved(_))));
            }
        }
    }
}
