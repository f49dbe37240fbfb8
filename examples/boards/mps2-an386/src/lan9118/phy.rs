//! The internal PHY: auto-negotiation at start, then the link state and the
//! negotiated duplex each time the PHY interrupts.

use super::regs::phy;
use super::{Error, Registers, mii};

/// What the PHY reports about the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) up: bool,
    /// The negotiated duplex, once auto-negotiation has completed.
    pub(crate) full_duplex: Option<bool>,
}

/// Advertises 10 and 100 Mbit/s, half and full duplex, restarts
/// auto-negotiation, and lets the PHY interrupt when the link comes up
/// (auto-negotiation complete) or goes down.
pub(crate) fn start_autonegotiation<R: Registers + ?Sized>(registers: &R) -> Result<(), Error> {
    let abilities = phy::SELECTOR_802_3
        | phy::ABILITY_10_HALF
        | phy::ABILITY_10_FULL
        | phy::ABILITY_100_HALF
        | phy::ABILITY_100_FULL;
    mii::write(registers, phy::AN_ADVERTISEMENT, abilities)?;
    mii::write(
        registers,
        phy::BASIC_CONTROL,
        phy::CONTROL_AN_ENABLE | phy::CONTROL_AN_RESTART,
    )?;
    mii::write(
        registers,
        phy::INTERRUPT_MASK,
        phy::INT_AN_COMPLETE | phy::INT_LINK_DOWN,
    )
}

/// Clears the PHY's interrupt source (so its interrupt drops) and reads the
/// link: clearing first means a change after this read interrupts again.
pub(crate) fn read_link<R: Registers + ?Sized>(registers: &R) -> Result<Link, Error> {
    mii::read(registers, phy::INTERRUPT_SOURCE)?;
    // The link bit latches low until read: the first read reports a drop
    // since the last look, the second the link as it is now.
    mii::read(registers, phy::BASIC_STATUS)?;
    let status = mii::read(registers, phy::BASIC_STATUS)?;
    let up = status & phy::STATUS_LINK_UP != 0;
    let full_duplex = if up && status & phy::STATUS_AN_COMPLETE != 0 {
        let advertised = mii::read(registers, phy::AN_ADVERTISEMENT)?;
        let partner = mii::read(registers, phy::AN_LINK_PARTNER)?;
        Some(negotiated_full_duplex(advertised, partner))
    } else {
        None
    };
    Ok(Link { up, full_duplex })
}

/// The duplex auto-negotiation settles on: the best mode both ends offer,
/// in IEEE 802.3 priority order (100 full, 100 half, 10 full, 10 half).
pub(crate) fn negotiated_full_duplex(advertised: u16, partner: u16) -> bool {
    let common = advertised & partner;
    if common & phy::ABILITY_100_FULL != 0 {
        true
    } else if common & phy::ABILITY_100_HALF != 0 {
        false
    } else {
        common & phy::ABILITY_10_FULL != 0
    }
}

#[cfg(test)]
mod tests {
    use super::negotiated_full_duplex;
    use crate::lan9118::regs::phy::{
        ABILITY_10_FULL, ABILITY_10_HALF, ABILITY_100_FULL, ABILITY_100_HALF,
    };

    const ALL: u16 = ABILITY_10_HALF | ABILITY_10_FULL | ABILITY_100_HALF | ABILITY_100_FULL;

    #[test]
    fn the_best_common_mode_sets_the_duplex() {
        assert!(negotiated_full_duplex(ALL, ALL));
        // QEMU's link partner register (0x0f71) offers everything.
        assert!(negotiated_full_duplex(0x01E1, 0x0F71));
        // 100 half beats 10 full.
        assert!(!negotiated_full_duplex(
            ALL,
            ABILITY_100_HALF | ABILITY_10_FULL
        ));
        assert!(negotiated_full_duplex(
            ALL,
            ABILITY_10_FULL | ABILITY_10_HALF
        ));
        assert!(!negotiated_full_duplex(ALL, ABILITY_10_HALF));
        assert!(!negotiated_full_duplex(ABILITY_10_HALF, ABILITY_100_FULL));
    }
}
