//! Reading audio and datasets, augmentation, and the batch loader.
