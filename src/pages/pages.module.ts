import { Module } from '@nestjs/common';
import { AssetsController } from './assets.controller';

/** The stylesheet of the server-rendered pages (the pages themselves are plain functions). */
@Module({ controllers: [AssetsController] })
export class PagesModule {}
