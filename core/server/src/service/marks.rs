//! Stars and ratings: one place that changes them (for every transport) and tells the user's
//! other clients, and that puts the asking user's marks into song views.

use crate::bus::{Bus, Event};
use crate::error::AppResult;
use crate::store::favourites::{Favourites, ItemKind, Marks};
use crate::store::songs::SongView;

pub enum Mark {
    Star,
    Unstar,
    /// 1 to 5; 0 removes the rating.
    Rate(u8),
}

#[derive(Clone)]
pub struct UserMarks {
    favourites: Favourites,
    bus: Bus,
}

impl UserMarks {
    pub fn new(favourites: Favourites, bus: Bus) -> Self {
        Self { favourites, bus }
    }

    /// Changes a mark on an item the caller checked exists; returns the item's marks after it.
    pub fn set(&self, user_id: &str, kind: ItemKind, id: &str, mark: Mark) -> AppResult<Marks> {
        match mark {
            Mark::Star => {
                self.favourites.star(user_id, kind, id)?;
            }
            Mark::Unstar => self.favourites.unstar(user_id, kind, id)?,
            Mark::Rate(rating) => self.favourites.rate(user_id, kind, id, rating)?,
        }
        let marks = self.favourites.marks(user_id, kind, id)?;
        self.bus.publish(Event::Marked {
            user_id: user_id.to_string(),
            kind,
            id: id.to_string(),
            marks,
        });
        Ok(marks)
    }

    /// Fills in `user_id`'s marks on each view.
    pub fn fill(&self, user_id: &str, views: &mut [SongView]) -> AppResult<()> {
        for view in views {
            view.marks = Some(
                self.favourites
                    .marks(user_id, ItemKind::Song, &view.song.id)?,
            );
        }
        Ok(())
    }

    /// `view` with `user_id`'s marks.
    pub fn marked(&self, user_id: &str, mut view: SongView) -> AppResult<SongView> {
        self.fill(user_id, std::slice::from_mut(&mut view))?;
        Ok(view)
    }
}
