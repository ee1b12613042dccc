/** A `Map` with a size cap that forgets the least recently used entry first (Map keeps insertion order). */
export class LruMap<K, V> {
  readonly #map = new Map<K, V>()
  readonly #max: number

  constructor(max: number) {
    this.#max = Math.max(1, Math.floor(max))
  }

  get size(): number {
    return this.#map.size
  }

  /** The value, marking it most recently used. */
  get(key: K): V | undefined {
    const value = this.#map.get(key)
    if (value === undefined) return undefined
    this.#map.delete(key)
    this.#map.set(key, value)
    return value
  }

  /** The value, without touching its recency. */
  peek(key: K): V | undefined {
    return this.#map.get(key)
  }

  set(key: K, value: V): void {
    this.#map.delete(key)
    this.#map.set(key, value)
    while (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next().value as K
      this.#map.delete(oldest)
    }
  }

  delete(key: K): void {
    this.#map.delete(key)
  }

  keys(): IterableIterator<K> {
    return this.#map.keys()
  }

  values(): IterableIterator<V> {
    return this.#map.values()
  }
}
